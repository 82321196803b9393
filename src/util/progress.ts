// Progress for long work on stderr: a bar with rate and ETA on a TTY, plain lines (every few seconds) otherwise.
// Silent for work that finishes within the first two seconds. No tensor axes.
export class Progress {
  private done = 0;
  /** Work done before this process (a resumed run): counted as done, not in the rate. */
  private before = 0;
  private readonly start: number;
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'it',
    private readonly stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'> = process.stderr,
    private readonly now: () => number = Date.now,
  ) {
    this.start = now();
  }

  tick(n = 1): void {
    this.done += n;
    const now = this.now();
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

  private draw(tty: boolean): void {
    this.drawn = true;
    const secs = (this.now() - this.start) / 1000;
    const rate = (this.done - this.before) / Math.max(secs, 1e-9);
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
