// The runs folder as the server sees it: which folders are runs (report.json, analyses/, a running study's progress),
// their summaries (cached by each run's file stats), their reports, and paths inside them that are safe to serve (no
// traversal, encoded or not; no symlinks out of the run). All file access is async: a big runs folder never blocks
// the server. No tensor axes.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { headline } from '../src/report/findings.ts';
import { PROGRESS_FILE } from '../src/queue/progress.ts';
import { readProgress, type RunningStudy } from './progress.ts';
import { upgradeRun } from '../src/report/upgrade.ts';

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface RunSummary {
  name: string;
  /** The run's own name (report.json's name, from `emlens demo --name`), else the folder's. */
  title: string;
  description: string | null;
  date: string;
  model: string | null;
  adapters: string[];
  analyses: string[];
  /** Headline figures by column (src/report/findings.ts's HEADLINE_COLUMNS), from the same claims as the run page. */
  headline: Record<string, number | string>;
  /** Papers' claims reproduced (✓) of those this run measured. */
  claims: { passed: number; measured: number };
  /** A queued study still running: its steps by stage and ETA (RUN/queue-progress.json); null once it has ended. */
  progress: RunningStudy | null;
}

export type IndexEntry = RunSummary | { name: string; error: string };

export interface RunReport {
  name: string;
  /** report.json of a demo run, if any. */
  report: Record<string, unknown> | null;
  /** RUN/analyses/NAME.json reports, by analysis name. */
  analyses: Record<string, Record<string, unknown>>;
  /** Names of the judged evals in RUN/evals (fetched one by one: they hold every answer). */
  evals: string[];
  /** Analyses whose file could not be read, by name: the page shows these and draws the rest. */
  errors: Record<string, string>;
}

const statOrNull = (p: string): Promise<Stats | null> => stat(p).catch(() => null);
const listOrEmpty = (p: string): Promise<string[]> => readdir(p).catch(() => []);

/**
 * A run: a folder holding report.json, an analyses/ folder, or a queued study's progress (a study running). Any other
 * folder of the runs folder is never served.
 */
export async function isRun(dir: string): Promise<boolean> {
  const [d, report, analyses, progress] = await Promise.all([statOrNull(dir), statOrNull(join(dir, 'report.json')), statOrNull(join(dir, 'analyses')), statOrNull(join(dir, PROGRESS_FILE))]);
  return Boolean(d?.isDirectory() && (report?.isFile() || analyses?.isDirectory() || progress?.isFile()));
}

/** Absolute path of a run folder; 404 for names that are not plain folder names of runs under runsDir. */
export async function runDir(runsDir: string, name: string): Promise<string> {
  if (!RUN_NAME.test(name) || name.includes('..')) throw new HttpError(404, `no run named ${JSON.stringify(name)}`);
  const dir = join(runsDir, name);
  if (!(await isRun(dir))) throw new HttpError(404, `no run named ${JSON.stringify(name)}`);
  return insideOrThrow(runsDir, dir);
}

/** Resolves symlinks and refuses anything that ends up outside `root`. */
export async function insideOrThrow(root: string, path: string): Promise<string> {
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    throw new HttpError(404, 'not found');
  }
  const rel = relative(realRoot, real);
  if (rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) throw new HttpError(403, 'outside the runs folder');
  return real;
}

/** A file inside a run, from a URL path (already decoded by the router). */
export async function runFile(runsDir: string, name: string, relPath: string): Promise<string> {
  const dir = await runDir(runsDir, name);
  const parts = relPath.split(/[\\/]/);
  if (!relPath || isAbsolute(relPath) || parts.some((p) => p === '..' || p === '')) throw new HttpError(403, 'bad path');
  // dot-files inside a run are never served, however the slash reached us (an encoded %2f stays in one URL segment)
  if (parts.some((p) => p.startsWith('.'))) throw new HttpError(404, 'not found');
  const file = await insideOrThrow(dir, join(dir, relPath));
  if (!(await stat(file)).isFile()) throw new HttpError(404, 'not a file');
  return file;
}

/**
 * A JSON object inside the run (a symlink out of it is refused like any other path). The parser's message is not
 * passed on: it quotes the file, which need not be a report at all.
 */
async function readJson(dir: string, path: string): Promise<Record<string, unknown>> {
  const real = await insideOrThrow(dir, path);
  const where = relative(dir, path).split(sep).join('/');
  let v: unknown;
  try {
    v = JSON.parse(await readFile(real, 'utf8'));
  } catch {
    throw new HttpError(500, `${where}: malformed JSON (half written, or not a report)`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(500, `${where}: not a JSON object`);
  return v as Record<string, unknown>;
}

export async function readRun(runsDir: string, name: string): Promise<RunReport> {
  return readRunAt(await runDir(runsDir, name), name);
}

const jsonNames = (files: string[]) => files.filter((x) => x.endsWith('.json') && !x.startsWith('.')).sort();

/** A run folder's reports, wherever it is (`emlens export` takes any folder, whatever its name); results written in an
 * older format are upgraded to today's (src/report/upgrade.ts), so pages, downloads and exports see one format. */
export async function readRunAt(dir: string, name: string): Promise<RunReport> {
  const reportPath = join(dir, 'report.json');
  const analyses: RunReport['analyses'] = {};
  const errors: RunReport['errors'] = {};
  const adir = join(dir, 'analyses');
  const [afiles, efiles, hasReport] = await Promise.all([listOrEmpty(adir), listOrEmpty(join(dir, 'evals')), statOrNull(reportPath)]);
  const read = await Promise.all(jsonNames(afiles).map(async (f) => {
    try {
      return { a: f.replace(/\.json$/, ''), v: await readJson(dir, join(adir, f)) };
    } catch (e) {
      return { a: f.replace(/\.json$/, ''), e: (e as Error).message }; // one unreadable analysis does not hide the others
    }
  }));
  for (const r of read) {
    if ('v' in r) analyses[r.a] = r.v!;
    else errors[r.a] = r.e!;
  }
  const evals = jsonNames(efiles).map((x) => x.replace(/\.json$/, ''));
  return upgradeRun({ name, report: hasReport ? await readJson(dir, reportPath) : null, analyses, evals, errors });
}


/** The index's view of a run's findings: computed by src/report/findings.ts, as the run page computes them. */
function summaryOf(r: RunReport): Pick<RunSummary, 'title' | 'description' | 'headline' | 'claims'> {
  const h = headline(r);
  return { title: h.title, description: h.description, headline: h.figures, claims: { passed: h.passed, measured: h.measured } };
}

/** One run's index row, read from its files (the slow part the index caches). */
async function summarize(runsDir: string, name: string, dir: string): Promise<IndexEntry> {
  try {
    await insideOrThrow(runsDir, dir);
    const dirStat = await stat(dir);
    const r = await readRunAt(dir, name);
    const unreadable = Object.entries(r.errors);
    if (!r.report && !Object.keys(r.analyses).length && unreadable.length) throw new HttpError(500, unreadable.map(([, m]) => m).join('; '));
    const first = (r.report ?? Object.values(r.analyses)[0] ?? {}) as { model?: unknown; finished_at?: unknown; started_at?: unknown; created_at?: unknown };
    const text = (v: unknown) => (typeof v === 'string' ? v : undefined); // a report written by something else may hold anything
    return {
      name,
      date: text(first.finished_at) ?? text(first.created_at) ?? text(first.started_at) ?? dirStat.mtime.toISOString(), // report.json: created_at
      model: text(first.model) ?? null,
      adapters: (await listOrEmpty(join(dir, 'finetunes'))).sort(),
      progress: await readProgress(dir),
      analyses: [...new Set([...Object.keys(r.analyses), ...Object.keys((r.report?.sections as object) ?? {})])],
      ...summaryOf(r),
    };
  } catch (e) {
    return { name, error: (e as Error).message };
  }
}

const stamp = (s: Stats | null) => (s ? `${s.ino}:${s.size}:${s.mtimeMs}` : '-');

/**
 * What a run's summary is read from, as a string that changes when it does: report.json (inode, size, mtime: an
 * atomic rewrite is a new inode), and the analyses/ and finetunes/ folders (a file or fine-tune written, replaced by
 * rename or removed changes its folder's mtime; every writer here writes by rename). Three stats a run, so a request
 * over a large runs folder costs little; null when the folder is not (or no longer) a run.
 */
async function fingerprint(dir: string): Promise<string | null> {
  const [report, adir, ft, progress] = await Promise.all([statOrNull(join(dir, 'report.json')), statOrNull(join(dir, 'analyses')), statOrNull(join(dir, 'finetunes')), statOrNull(join(dir, PROGRESS_FILE))]);
  if (!(report?.isFile() || adir?.isDirectory() || progress?.isFile())) return null;
  return `${stamp(report)}|${stamp(adir)}|${stamp(ft)}|${stamp(progress)}`;
}

const newestFirst = (a: IndexEntry, b: IndexEntry) => ('date' in b ? b.date : '').localeCompare('date' in a ? a.date : '');

/**
 * The index of a runs folder, kept between requests: each run's summary is read again only when its fingerprint
 * changes; requests that arrive while a scan runs share it; an unchanged folder gives the same array back (callers may
 * cache what they render from it by identity).
 */
export class RunIndex {
  private readonly cache = new Map<string, { key: string; entry: IndexEntry }>();
  private scanning?: Promise<IndexEntry[]>;
  private last: IndexEntry[] = [];
  /** When the scan that gave `last` started (what it shows is at least that recent). */
  private lastAt = -Infinity;

  constructor(readonly runsDir: string) {}

  /** The runs, from a scan started at most `maxAgeMs` ago (0: a scan started now, or the one running). */
  list(maxAgeMs = 0): Promise<IndexEntry[]> {
    if (Date.now() - this.lastAt < maxAgeMs) return Promise.resolve(this.last);
    this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scan(): Promise<IndexEntry[]> {
    const startedAt = Date.now();
    const names = (await listOrEmpty(this.runsDir)).filter((n) => RUN_NAME.test(n));
    const rows = await Promise.all(names.map(async (name) => {
      const dir = join(this.runsDir, name);
      const key = await fingerprint(dir);
      if (!key) return undefined;
      const hit = this.cache.get(name);
      if (hit?.key === key) return hit.entry;
      const entry = await summarize(this.runsDir, name, dir);
      this.cache.set(name, { key, entry });
      return entry;
    }));
    const fresh = rows.filter((r): r is IndexEntry => r !== undefined);
    const kept = new Set(fresh.map((r) => r.name));
    for (const n of [...this.cache.keys()]) if (!kept.has(n)) this.cache.delete(n);
    const before = new Set(this.last);
    if (fresh.length !== this.last.length || !fresh.every((r) => before.has(r))) this.last = fresh.sort(newestFirst);
    this.lastAt = startedAt;
    return this.last;
  }
}

/** Every run: a folder with report.json or analyses/*.json; newest first. Malformed runs are listed with an error. */
export function listRuns(runsDir: string): Promise<IndexEntry[]> {
  return new RunIndex(runsDir).list();
}
