// Progress for long work on stderr: a bar with rate and ETA on a TTY, plain lines (every few seconds) otherwise.
// Silent for work that finishes within the first two seconds. No tensor axes.

/** The rate is measured over about the last minute, so a pause (a stopped process, a sleeping machine) or a change of
 * load shows in the ETA for a minute, not for the rest of the run. */
const RATE_WINDOW_MS = 60_000;
/** At most one rate sample a second. */
const SAMPLE_EVERY_MS = 1000;

export class Progress {
  private done = 0;
  /** Work done before this process (a resumed run): counted as done, not in the rate. */
  private before = 0;
  private readonly start: number;
  private lastDraw = 0;
  private drawn = false;
  /** (time, units done in this session) at most a second apart; the first is the newest at or before the window. */
  private readonly samples: { t: number; counted: number }[];

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'it',
    private readonly stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'> = process.stderr,
    private readonly now: () => number = Date.now,
  ) {
    this.start = now();
    this.samples = [{ t: this.start, counted: 0 }];
  }

  tick(n = 1): void {
    this.done += n;
    const now = this.now();
    this.sample(now);
    const tty = Boolean(this.stream.isTTY);
    if (now - this.start < 2000 || now - this.lastDraw < (tty ? 100 : 5000)) return;
    this.lastDraw = now;
    this.draw(tty);
  }

  /** Starts from `n` units already done in an earlier session. */
  resumeAt(n: number): void {
    this.done += n;
    this.before += n;
  }

  /** Final line (only if anything was drawn before). */
  finish(): void {
    if (this.drawn) {
      this.draw(Boolean(this.stream.isTTY));
      if (this.stream.isTTY) this.stream.write('\n');
    }
  }

  private sample(now: number): void {
    if (now - this.samples[this.samples.length - 1].t >= SAMPLE_EVERY_MS) this.samples.push({ t: now, counted: this.done - this.before });
    while (this.samples.length > 1 && this.samples[1].t <= now - RATE_WINDOW_MS) this.samples.shift();
  }

  private draw(tty: boolean): void {
    this.drawn = true;
    const base = this.samples[0];
    const secs = (this.now() - base.t) / 1000;
    const rate = (this.done - this.before - base.counted) / Math.max(secs, 1e-9);
    const left = rate > 0 ? (this.total - this.done) / rate : Infinity;
    const pct = this.total ? Math.min(1, this.done / this.total) : 0;
    const stats = `${this.done}/${this.total} ${this.unit} · ${rate.toFixed(rate < 10 ? 2 : 0)} ${this.unit}/s · ETA ${formatSeconds(left)}`;
    if (tty) {
      const width = 24;
      const filled = Math.round(pct * width);
      this.stream.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}\x1b[K`);
    } else {
      this.stream.write(`${this.label}: ${(pct * 100).toFixed(0)}% ${stats}\n`);
    }
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const whole = Math.round(s); // rounded once, so 179.6 s reads 3m00s, not 2m60s
  if (whole < 60) return `${whole}s`;
  const m = Math.floor(whole / 60);
  return m < 60 ? `${m}m${String(whole % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
