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
export function readTextFile(path: string, where = path): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`${where}: ${readErrorReason(e)}`);
  }
  return dropBom(text);
}

/** The text without a leading UTF-8 byte-order mark (editors on Windows write one). */
export function dropBom(text: string): string {
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

/** Files a model loader reads from a model or adapter folder: no output may take one of these names there. */
const LOADER_FILE = /^(config\.json|generation_config\.json|tokenizer(_config)?\.json|special_tokens_map\.json|chat_template\.jinja|model(-\d+-of-\d+)?\.safetensors|model\.safetensors\.index\.json|adapter_config\.json|adapter_model\.safetensors|pytorch_model.*\.bin)$/;

/** A Hugging Face model folder (config.json beside safetensors weights) or a PEFT adapter folder. */
export function isModelFolder(dir: string): boolean {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return false;
  if (existsSync(join(dir, 'adapter_config.json'))) return true;
  return existsSync(join(dir, 'config.json')) && readdirSync(dir).some((f) => /\.safetensors$|\.safetensors\.index\.json$/.test(f));
}

export interface OutputGuard {
  /** The flag the path came from, named in errors (e.g. "--out"). */
  flag: string;
  /** "file": the command writes this file; "dir": it fills this folder. */
  kind: 'file' | 'dir';
  /** For "dir": names whose presence marks the folder as this command's own earlier output (resumed or updated). */
  ownedIf?: string[];
  /** For "file": other files the command writes beside it (e.g. the .json of a direction). */
  siblings?: string[];
}

/**
 * The output-path guard every writing command calls before any work: never write over a model's own files (a file a
 * model loader reads, or any existing file, in a model or adapter folder), never fill a non-empty folder that is not
 * this command's own earlier output, and find out now (not after the work) that the place is writable.
 */
export function guardOutput(path: string, g: OutputGuard): void {
  const abs = resolve(path);
  const where = `${g.flag} ${path}`;
  if (g.kind === 'file') {
    for (const t of [abs, ...(g.siblings ?? []).map((s) => resolve(s))]) {
      if (existsSync(t) && statSync(t).isDirectory()) throw new UsageError(`${where}: ${t} is a folder; give a file name`);
      const parent = dirname(t);
      if (isModelFolder(parent) && (existsSync(t) || LOADER_FILE.test(basename(t)))) throw new UsageError(`${where}: would write over ${t}, a file of the model in ${parent}; choose another path`);
    }
    checkWritable(dirname(abs), where);
    return;
  }
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new UsageError(`${where}: ${abs} is a file, not a folder`);
    const entries = readdirSync(abs).filter((f) => !f.startsWith('.') && !/\.\d+\.(tmp|old)$/.test(f));
    const owned = (g.ownedIf ?? []).some((f) => existsSync(join(abs, f)));
    if (entries.length && !owned) {
      if (isModelFolder(abs)) throw new UsageError(`${where}: ${abs} is a model folder; its files would be overwritten; choose a new folder`);
      throw new UsageError(`${where}: ${abs} is not empty and not an earlier output of this command (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); choose an empty or new folder`);
    }
  }
  checkWritable(abs, where);
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
