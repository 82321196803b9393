// A queued study's progress by stage (step kind): done / running / waiting / failed, and an ETA from the mean time of
// the steps done so far; one stderr line when something changes (at most one a second), and the same figures in
// RUN/queue-progress.json for a page that shows a running study. No tensor axes.
import { log } from '../util/log.ts';
import { formatSeconds } from '../util/progress.ts';
import { writeJsonAtomic } from '../util/fs.ts';

export type StepState = 'waiting' | 'running' | 'done' | 'failed';

/** Where a study keeps its progress (RUN/queue-progress.json), and what it holds: the report server shows it. */
export const PROGRESS_FILE = 'queue-progress.json';
export interface ProgressFile {
  /** Steps by stage (finetune, eval, extract) and state; `cached`: done before this study started (in the store). */
  kinds: Record<string, Record<StepState, number> & { cached: number }>;
  eta_s: number | null;
  line: string;
  /** False while the study runs; true once it has ended (finished, failed or interrupted). */
  finished: boolean;
  updated_at: string;
}

interface Tracked {
  kind: string;
  state: StepState;
  since: number;
  cached: boolean;
}

export class StudyProgress {
  private readonly steps = new Map<string, Tracked>();
  private readonly durations = new Map<string, number[]>();
  private lastLine = '';
  private lastAt = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly quiet = false, private readonly everyMs = 1000, private readonly file?: string) {}

  /** A step known to the study: `cached` when its result was already in the store. */
  add(key: string, kind: string, cached = false): void {
    if (this.steps.has(key)) return;
    this.steps.set(key, { kind, state: cached ? 'done' : 'waiting', since: Date.now(), cached });
    this.changed();
  }

  set(key: string, state: StepState): void {
    const s = this.steps.get(key);
    if (!s || s.state === state) return;
    if (state === 'done' && s.state === 'running') {
      const d = this.durations.get(s.kind) ?? [];
      d.push((Date.now() - s.since) / 1000);
      this.durations.set(s.kind, d);
    }
    s.state = state;
    s.since = Date.now();
    this.changed();
  }

  /** Counts by kind and state, and the ETA in seconds (null before any step of a kind with work left has finished). */
  summary(): { kinds: Record<string, Record<StepState, number> & { cached: number }>; eta_s: number | null } {
    const kinds: Record<string, Record<StepState, number> & { cached: number }> = {};
    for (const s of this.steps.values()) {
      const k = (kinds[s.kind] ??= { waiting: 0, running: 0, done: 0, failed: 0, cached: 0 });
      k[s.state]++;
      if (s.cached) k.cached++;
    }
    let eta = 0;
    let known = true;
    const running = Math.max(1, [...this.steps.values()].filter((s) => s.state === 'running').length);
    for (const [kind, c] of Object.entries(kinds)) {
      const left = c.waiting + c.running;
      if (!left) continue;
      const d = this.durations.get(kind);
      if (!d?.length) known = false;
      else eta += (left * d.reduce((a, b) => a + b, 0)) / d.length;
    }
    return { kinds, eta_s: known ? Math.round(eta / running) : null };
  }

  line(): string {
    const { kinds, eta_s } = this.summary();
    const parts = Object.entries(kinds).map(([kind, c]) => {
      const total = c.waiting + c.running + c.done + c.failed;
      return `${kind} ${c.done}/${total} done${c.cached ? ` (${c.cached} already)` : ''}, ${c.running} running, ${c.waiting} waiting${c.failed ? `, ${c.failed} failed` : ''}`;
    });
    return `queue: ${parts.join(' · ')}${eta_s !== null && eta_s > 0 ? ` · ETA ${formatSeconds(eta_s)}` : ''}`;
  }

  private changed(): void {
    if (this.quiet && !this.file) return;
    const wait = this.lastAt + this.everyMs - Date.now();
    if (wait > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.changed();
      }, wait);
      this.timer.unref();
      return;
    }
    const line = this.line();
    if (line === this.lastLine) return;
    this.lastLine = line;
    this.lastAt = Date.now();
    if (!this.quiet) log(line);
    this.save(false);
  }

  private save(finished: boolean): void {
    if (!this.file) return;
    try {
      const file: ProgressFile = { ...this.summary(), line: this.lastLine, finished, updated_at: new Date().toISOString() };
      writeJsonAtomic(this.file, file);
    } catch {
      // a progress file that cannot be written never stops the study
    }
  }

  /** The last line, said now (the study ended). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.quiet && this.steps.size && this.line() !== this.lastLine) log(this.line());
    this.lastLine = this.line();
    this.save(true);
  }
}
