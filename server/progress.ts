// A queued study's progress as the report server shows it: RUN/queue-progress.json (written by the study as its steps
// change state, src/queue/progress.ts) read and checked, and a read-only page that reloads itself. No tensor axes.
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROGRESS_FILE, type ProgressFile } from '../src/queue/progress.ts';
import { formatSeconds } from '../src/util/progress.ts';
import { esc, shell } from './pages.ts';

/** Seconds between reloads of a running study's page (sent as a Refresh header: the page holds no script). */
export const PROGRESS_REFRESH_S = 5;

const STATES = ['done', 'running', 'waiting', 'failed'] as const;
export type StageCounts = Record<(typeof STATES)[number] | 'cached', number>;

/** What the index and the page show of a study that is running. */
export interface RunningStudy {
  stages: ({ stage: string } & StageCounts)[];
  eta_s: number | null;
  line: string;
  updated_at: string;
  /** One line for the index: steps done of all, running, failed, and the ETA when known. */
  summary: string;
}

const STAGE_NAMES: Record<string, string> = { finetune: 'fine-tunes', eval: 'evals', extract: 'direction extractions' };
const count = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : null);

/**
 * The progress of the study running in `dir`: null when it has no progress file, has ended, or the file is not one
 * (a symlink, half written, another shape): the folder is then shown from its results alone.
 */
export async function readProgress(dir: string): Promise<RunningStudy | null> {
  const file = join(dir, PROGRESS_FILE);
  const st = await lstat(file).catch(() => null);
  if (!st?.isFile()) return null;
  let p: Partial<ProgressFile>;
  try {
    p = JSON.parse(await readFile(file, 'utf8')) as Partial<ProgressFile>;
  } catch {
    return null;
  }
  if (!p || typeof p !== 'object' || p.finished !== false || typeof p.kinds !== 'object' || !p.kinds) return null;
  const stages: RunningStudy['stages'] = [];
  for (const [stage, c] of Object.entries(p.kinds)) {
    const counts = Object.fromEntries([...STATES, 'cached'].map((s) => [s, count((c as Record<string, unknown>)?.[s])]));
    if (Object.values(counts).some((v) => v === null)) return null;
    stages.push({ stage, ...(counts as StageCounts) });
  }
  const eta = typeof p.eta_s === 'number' && Number.isFinite(p.eta_s) ? p.eta_s : null;
  return {
    stages,
    summary: progressSummary(stages, eta),
    eta_s: eta,
    line: typeof p.line === 'string' ? p.line.slice(0, 500) : '',
    updated_at: typeof p.updated_at === 'string' ? p.updated_at.slice(0, 40) : '',
  };
}

function progressSummary(stages: RunningStudy['stages'], eta: number | null): string {
  const sum = (k: keyof StageCounts) => stages.reduce((a, s) => a + s[k], 0);
  const total = STATES.reduce((a, k) => a + sum(k), 0);
  return `running: ${sum('done')} of ${total} steps done, ${sum('running')} running${sum('failed') ? `, ${sum('failed')} failed` : ''}${eta ? ` · ETA ${formatSeconds(eta)}` : ''}`;
}

/**
 * The page of a running study: its steps by stage (done / running / waiting / failed), the ETA, when the study last
 * wrote its progress, and the analyses already finished. It reloads itself and has no controls; once the study ends,
 * the reload shows its report.
 */
export function progressPage(name: string, p: RunningStudy, analysesDone: string[]): string {
  const rows = p.stages.map((s) => {
    const total = STATES.reduce((a, k) => a + s[k], 0);
    return `<tr><td>${esc(STAGE_NAMES[s.stage] ?? s.stage)}</td>${STATES.map((k) => `<td class="num${k === 'failed' && s[k] ? ' err' : ''}">${s[k]}</td>`).join('')}<td class="num">${total}</td><td class="num muted">${s.cached || ''}</td></tr>`;
  });
  const eta = p.eta_s === null ? 'not known yet (after the first step of each stage with work left)' : p.eta_s > 0 ? formatSeconds(p.eta_s) : '—';
  return shell(`${name} (running)`, `<h1>${esc(name)} <span class="folder">running on a queue</span></h1>
<p class="meta">This study's steps run on <code>emlens worker</code>s. This page shows its progress and reloads every ${PROGRESS_REFRESH_S} s; it changes nothing. When the study ends, its report appears here.</p>
<table id="progress"><thead><tr><th>stage</th>${STATES.map((k) => `<th>${k}</th>`).join('')}<th>of</th><th>done before</th></tr></thead><tbody>${rows.join('')}</tbody></table>
<p><strong>ETA:</strong> <span id="eta">${esc(eta)}</span></p>
<p class="muted small">Last change written by the study: <span id="updated">${esc(p.updated_at || 'unknown')}</span> (a study that was killed leaves this page as it was).</p>
<p class="small">Analyses finished: ${analysesDone.length ? analysesDone.map((a) => `<code>${esc(a)}</code>`).join(', ') : 'none yet'}.</p>`);
}
