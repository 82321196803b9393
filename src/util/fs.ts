// Atomic file and folder writes (temp name + rename), so a crash never leaves a half-written result; text files read
// with a UTF-8 BOM stripped and read errors naming the path; the output-path guard; stale temp files cleaned.
// No tensor axes.
import { renameSync, rmSync, writeFileSync, existsSync, mkdirSync, readFileSync, statSync, readdirSync, accessSync, constants } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import { UsageError, UserError } from './log.ts';

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Fills a folder through `fill(tmpDir)` and then renames it into place, replacing any older one. */
export function writeDirAtomic(dir: string, fill: (tmp: string) => void): void {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const old = `${dir}.${process.pid}.old`;
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

/**
 * A text file as a string, the one place user files are read as text: a UTF-8 byte-order mark at its start is
 * dropped (editors on Windows write one), and a missing path, a folder or an unreadable file is one UserError naming it.
 */
export function readTextFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`${path}: ${readErrorReason(e)}`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** What a failed read of a path means, in words (ENOENT, EISDIR, EACCES …). */
export function readErrorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EISDIR') return 'is a folder, not a file';
  if (code === 'EACCES' || code === 'EPERM') return 'not readable (permission denied)';
  return `cannot be read (${(e as Error).message})`;
}

/** Files a model folder is made of: what no output may replace. */
const MODEL_FILE = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|chat_template\.jinja|.*\.safetensors|.*\.safetensors\.index\.json|adapter_config\.json|.*\.bin|.*\.gguf)$/;

function isModelFolder(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && readdirSync(dir).some((f) => /\.safetensors$|\.safetensors\.index\.json$/.test(f));
}

export interface OutputGuard {
  /** The flag the path came from, named in errors (e.g. "--out"). */
  flag: string;
  /** "file": the command writes this file (and maybe siblings with other extensions); "dir": it fills this folder. */
  kind: 'file' | 'dir';
  /** Files that may already be in a "dir" output (a run folder's own files); any other content makes it foreign. */
  ownFiles?: (name: string) => boolean;
  /** Extra paths the command will write beside a "file" output (e.g. the .json of a direction). */
  siblings?: string[];
}

/**
 * The output-path guard every writing command calls before any work: never write over a model's own files (a file in
 * a model folder, or the folder itself), never fill a non-empty folder that is not this command's own output, and
 * find out now (not after the work) that the place is not writable. Throws a UsageError-like UserError (exit 2).
 */
export function guardOutput(path: string, g: OutputGuard): void {
  const abs = resolve(path);
  const where = `${g.flag} ${path}`;
  const targets = g.kind === 'file' ? [abs, ...(g.siblings ?? []).map((s) => resolve(s))] : [abs];
  for (const t of targets) {
    const parent = dirname(t);
    if (existsSync(t) && statSync(t).isDirectory() && g.kind === 'file') throw new UsageError(`${where}: ${t} is a folder; give a file name`);
    if (MODEL_FILE.test(basename(t)) && existsSync(parent) && isModelFolder(parent)) throw new UsageError(`${where}: would write over ${t}, a file of the model in ${parent}; choose another path`);
  }
  if (g.kind === 'dir' && existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new UsageError(`${where}: ${abs} is a file, not a folder`);
    if (isModelFolder(abs)) throw new UsageError(`${where}: ${abs} is a model folder; choose another folder for the output`);
    const foreign = readdirSync(abs).filter((f) => !(g.ownFiles?.(f) ?? false));
    if (foreign.length) throw new UsageError(`${where}: ${abs} is not empty and not an output of this command (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); choose an empty or new folder`);
  }
  checkWritable(g.kind === 'file' ? dirname(abs) : abs, where);
}

/** Probes that `dir` (or its nearest existing ancestor, where it would be created) can be written, before any work. */
export function checkWritable(dir: string, where: string): void {
  let d = resolve(dir);
  while (!existsSync(d)) {
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  if (!statSync(d).isDirectory()) throw new UsageError(`${where}: ${d} is a file, not a folder`);
  try {
    accessSync(d, constants.W_OK | constants.X_OK);
  } catch {
    throw new UserError(`${where}: ${d} is not writable`);
  }
}

/** Whether a process with this pid is alive on this machine. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what an atomic write of a dead process left in `dir` (one level, and `subdirs` under it): `NAME.PID.tmp`
 * and `NAME.PID.old` files and folders whose PID is not alive. Returns the paths removed.
 */
export function cleanStaleTemp(dir: string, subdirs: string[] = []): string[] {
  const removed: string[] = [];
  for (const d of [dir, ...subdirs.map((s) => join(dir, s))]) {
    if (!existsSync(d) || !statSync(d).isDirectory()) continue;
    for (const name of readdirSync(d)) {
      const m = /\.(\d+)\.(tmp|old)$/.exec(name);
      if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
      rmSync(join(d, name), { recursive: true, force: true });
      removed.push(join(d, name));
    }
  }
  return removed;
}
