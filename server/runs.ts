// The runs folder as the server sees it: which runs exist, their summaries, their reports, and paths inside them that
// are safe to serve (no traversal, encoded or not; no symlinks out of the run). No tensor axes.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface RunSummary {
  name: string;
  date: string;
  model: string | null;
  adapters: string[];
  analyses: string[];
  headline: Record<string, number | string>;
}

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

/** Absolute path of a run folder; 404 for names that are not plain folder names under runsDir. */
export function runDir(runsDir: string, name: string): string {
  if (!RUN_NAME.test(name) || name.includes('..')) throw new HttpError(404, `no run named ${JSON.stringify(name)}`);
  const dir = join(runsDir, name);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new HttpError(404, `no run named ${JSON.stringify(name)}`);
  return insideOrThrow(runsDir, dir);
}

/** Resolves symlinks and refuses anything that ends up outside `root`. */
export function insideOrThrow(root: string, path: string): string {
  const realRoot = realpathSync(root);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new HttpError(404, 'not found');
  }
  const rel = relative(realRoot, real);
  if (rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) throw new HttpError(403, 'outside the runs folder');
  return real;
}

/** A file inside a run, from a URL path (already decoded by the router). */
export function runFile(runsDir: string, name: string, relPath: string): string {
  const dir = runDir(runsDir, name);
  const parts = relPath.split(/[\\/]/);
  if (!relPath || isAbsolute(relPath) || parts.some((p) => p === '..' || p === '')) throw new HttpError(403, 'bad path');
  // dot-files inside a run are never served, however the slash reached us (an encoded %2f stays in one URL segment)
  if (parts.some((p) => p.startsWith('.'))) throw new HttpError(404, 'not found');
  const file = insideOrThrow(dir, join(dir, relPath));
  if (!statSync(file).isFile()) throw new HttpError(404, 'not a file');
  return file;
}

/**
 * A JSON object inside the run (a symlink out of it is refused like any other path). The parser's message is not
 * passed on: it quotes the file, which need not be a report at all.
 */
function readJson(dir: string, path: string): Record<string, unknown> {
  const real = insideOrThrow(dir, path);
  const where = relative(dir, path).split(sep).join('/');
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(real, 'utf8'));
  } catch {
    throw new HttpError(500, `${where}: malformed JSON (half written, or not a report)`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(500, `${where}: not a JSON object`);
  return v as Record<string, unknown>;
}

export function readRun(runsDir: string, name: string): RunReport {
  return readRunAt(runDir(runsDir, name), name);
}

/** A run folder's reports, wherever it is (`emlens export` takes any folder, whatever its name). */
export function readRunAt(dir: string, name: string): RunReport {
  const reportPath = join(dir, 'report.json');
  const analyses: RunReport['analyses'] = {};
  const errors: RunReport['errors'] = {};
  const adir = join(dir, 'analyses');
  if (existsSync(adir)) {
    for (const f of readdirSync(adir).filter((x) => x.endsWith('.json') && !x.startsWith('.')).sort()) {
      const a = f.replace(/\.json$/, '');
      try {
        analyses[a] = readJson(dir, join(adir, f));
      } catch (e) {
        errors[a] = (e as Error).message; // one unreadable analysis does not hide the others
      }
    }
  }
  const edir = join(dir, 'evals');
  const evals = existsSync(edir) ? readdirSync(edir).filter((x) => x.endsWith('.json') && !x.startsWith('.')).map((x) => x.replace(/\.json$/, '')).sort() : [];
  return { name, report: existsSync(reportPath) ? readJson(dir, reportPath) : null, analyses, evals, errors };
}

function headline(r: RunReport): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  const get = (a: string) => (r.analyses[a]?.result ?? (r.report?.sections as Record<string, { result?: unknown }> | undefined)?.[a]?.result) as Record<string, unknown> | undefined;
  const syc = get('sycophancy-em') as { sycophancy?: { em: number } } | undefined;
  if (syc?.sycophancy) out['sycophancy EM'] = syc.sycophancy.em;
  const st = get('steering-transfer') as { baseline?: { em: number }[]; targets?: string[] } | undefined;
  if (st?.baseline && st.targets) st.targets.forEach((t, i) => (out[`${t} EM`] = st.baseline![i].em));
  const g = get('gating') as { reversal_reduction?: number | null } | undefined;
  if (typeof g?.reversal_reduction === 'number') out['gate reversal'] = g.reversal_reduction;
  return out;
}

/** Every run: a folder with report.json or analyses/*.json; newest first. Malformed runs are listed with an error. */
export function listRuns(runsDir: string): (RunSummary | { name: string; error: string })[] {
  if (!existsSync(runsDir)) return [];
  const out: (RunSummary | { name: string; error: string })[] = [];
  for (const name of readdirSync(runsDir)) {
    if (!RUN_NAME.test(name)) continue;
    const dir = join(runsDir, name);
    try {
      if (!statSync(dir).isDirectory() || (!existsSync(join(dir, 'report.json')) && !existsSync(join(dir, 'analyses')))) continue;
      insideOrThrow(runsDir, dir);
      const r = readRun(runsDir, name);
      const unreadable = Object.entries(r.errors);
      if (!r.report && !Object.keys(r.analyses).length && unreadable.length) throw new HttpError(500, unreadable.map(([, m]) => m).join('; '));
      const first = (r.report ?? Object.values(r.analyses)[0] ?? {}) as { model?: unknown; finished_at?: unknown; started_at?: unknown };
      const text = (v: unknown) => (typeof v === 'string' ? v : undefined); // a report written by something else may hold anything
      out.push({
        name,
        date: text(first.finished_at) ?? text(first.started_at) ?? statSync(dir).mtime.toISOString(),
        model: text(first.model) ?? null,
        adapters: existsSync(join(dir, 'finetunes')) ? readdirSync(join(dir, 'finetunes')).sort() : [],
        analyses: [...new Set([...Object.keys(r.analyses), ...Object.keys((r.report?.sections as object) ?? {})])],
        headline: headline(r),
      });
    } catch (e) {
      out.push({ name, error: (e as Error).message });
    }
  }
  return out.sort((a, b) => ('date' in b ? b.date : '').localeCompare('date' in a ? a.date : ''));
}
