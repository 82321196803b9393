// Work a study will need, done ahead on a second CPU core by a forked emlens process while the study goes on: fine-tunes
// (trained ahead) and evals (taken from the far end of a list the study works through from the front); a study that
// would wait for the child trains the child's last queued fine-tune meanwhile (see claim). No tensor
// axes: jobs are plain training specs and eval settings, and results are run folders and eval reports on disk.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainSpec } from '../train/defaults.ts';
import { runProgress } from '../train/trainer.ts';
import type { InterventionSpec } from '../interventions/spec.ts';
import { activeBackend } from '../backend/select.ts';
import { log, UserError } from '../util/log.ts';
import { needsTsx, siblingModule } from '../util/package-root.ts';

/**
 * One fine-tune by name and the spec it is trained with. By default it starts from the study's model and lands in
 * the study's RUN/finetunes/NAME; `modelDir` and `out` name another start and folder (a fine-tune of a sub-study on
 * another checkpoint, whose model folder may itself be made by an earlier job of the same queue).
 */
export interface FinetuneJob {
  name: string;
  spec: TrainSpec;
  modelDir?: string;
  out?: string;
}

/**
 * A job as the child does it, every path resolved: a fine-tune into run folder `out`, or an eval of the study at
 * `runDir` (its Workspace.evaluate, with the organism judge) whose report lands at `out`.
 */
export type ChildJob =
  | { kind: 'train'; name: string; out: string; modelDir: string; spec: TrainSpec }
  | { kind: 'eval'; name: string; out: string; modelDir: string; runDir: string; iv: InterventionSpec; settings: Record<string, unknown> };

/** Parent → child: the backend, then jobs to append (or, `first`, to put before the waiting ones). Child → parent: a
 * job started, and ended (ok, failed, or dropped: its model folder is not there, so the study does it itself). */
export type ToChild = { type: 'jobs'; backend: string; jobs: ChildJob[]; first: boolean };
export type FromChild =
  | { type: 'started'; out: string }
  | { type: 'ended'; out: string; ok: true }
  | { type: 'ended'; out: string; ok: false; message: string; dropped?: boolean };

const CHILD_URL = siblingModule('background-child', import.meta.url); // .ts from the sources, .js from the build
const CHILD = fileURLToPath(CHILD_URL);

/** Whether a second process would run on a core of its own: CPU backends (wasm, cpu) on a machine with ≥ 2. */
export function canTrainInBackground(): boolean {
  const b = activeBackend();
  return (b === 'wasm' || b === 'cpu') && availableParallelism() >= 2;
}

/**
 * Takes job `out` for this process: true when no one had it (a claim file `OUT.claim`, created exclusively, says so
 * to the other process). Both processes claim before they start a job, so each job is done once, without a message
 * round trip to a process busy with synchronous work.
 */
export function takeJob(out: string): boolean {
  try {
    mkdirSync(dirname(claimFile(out)), { recursive: true });
    closeSync(openSync(claimFile(out), 'wx'));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

const claimFile = (out: string) => `${resolve(out)}.claim`;

interface Sent {
  job: ChildJob;
  /** What the study asked for, to compare with what it claims (the spec, or the eval's intervention and settings). */
  asked: string;
  /** Settles when the child reports the job's end; 'dropped' when the child could not start it (the caller does it). */
  ended: Promise<'ok' | 'dropped'>;
  done: boolean;
  /** The child said it started it. */
  started: boolean;
  /** The study took it (claimed it before the child started it). */
  taken: boolean;
  settle(r: { ok: true } | { ok: false; message: string; dropped?: boolean }): void;
}

const asked = (j: ChildJob) => JSON.stringify(j.kind === 'train' ? j.spec : { iv: j.iv, settings: j.settings });

/**
 * The second process and its queue. The queue lives in the child, which goes from one job to the next on its own:
 * a parent busy with synchronous work (an eval) does not hold it up. Claim files decide who does a job.
 */
export class BackgroundTrainer {
  private readonly sent = new Map<string, Sent>();
  /** The child's queue order, as this side sent it (keys of `sent`). */
  private readonly order: string[] = [];
  private readonly child: ChildProcess;
  private closed = false;

  /** Starts the child with these jobs. */
  constructor(jobs: ChildJob[], private readonly quiet = false) {
    // the child runs the TypeScript sources through the same loader as this process
    this.child = fork(CHILD, [], { execArgv: needsTsx(CHILD_URL) ? ['--import', import.meta.resolve('tsx')] : [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    // the child does not keep this process alive: a study (or a script) that ends without close() just exits, and the
    // child follows on the channel's disconnect; while the study waits on it, the channel holds the process (hold())
    this.child.unref();
    this.child.channel?.unref();
    this.child.on('message', (m: FromChild) => this.received(m));
    this.child.on('exit', (code, signal) => {
      if (this.closed) return;
      const why = `the training process exited (${signal ?? `code ${code}`})`;
      for (const s of this.sent.values()) s.settle(s.done ? { ok: true } : { ok: false, message: why });
    });
    this.add(jobs, false);
  }

  /** Queues more jobs: after the waiting ones, or (`first`) before them, for work the study needs next. */
  add(jobs: ChildJob[], first: boolean): void {
    const fresh = jobs.filter((j, i) => !this.sent.has(key(j.out)) && jobs.findIndex((k) => key(k.out) === key(j.out)) === i);
    if (!fresh.length || this.closed) return;
    for (const j of fresh) {
      rmSync(claimFile(j.out), { force: true }); // left by a study that was stopped
      let settle!: Sent['settle'];
      const what = j.kind === 'train' ? 'fine-tune' : 'eval';
      const ended = new Promise<'ok' | 'dropped'>((ok, fail) => {
        settle = (r) => (r.ok ? ok('ok') : r.dropped ? ok('dropped') : fail(new Error(`background ${what} ${j.name}: ${r.message}`)));
      });
      ended.catch(() => undefined); // surfaced where the study claims it
      const sent: Sent = { job: j, asked: asked(j), ended, done: false, started: false, taken: false, settle: (r) => { sent.done = true; settle(r); } };
      this.sent.set(key(j.out), sent);
    }
    const keys = fresh.map((j) => key(j.out));
    if (first) this.order.unshift(...keys);
    else this.order.push(...keys);
    this.send({ type: 'jobs', backend: activeBackend(), jobs: fresh, first });
  }

  /**
   * The study needs job `out` now (`job`: what it asks for there): true once the background process has done it (a
   * failure there rejects), false when it is the caller's to do (never queued, not started — the caller takes it — or
   * dropped).
   */
  async claim(job: ChildJob, onWait?: () => void, trainHere?: (job: ChildJob & { kind: 'train' }) => Promise<void>): Promise<boolean> {
    const s = this.sent.get(key(job.out));
    if (!s || s.taken || this.closed) return false;
    if (s.asked !== asked(job)) throw new Error(`${job.kind === 'train' ? 'fine-tune' : 'eval'} ${job.name}: queued for the second core with other settings than the study now asks for`);
    if (takeJob(job.out)) {
      s.taken = true;
      return false;
    }
    if (!s.done) onWait?.();
    this.hold(1);
    try {
      // while the child finishes this one, this process trains one the child has not started (the last in its queue);
      // not when the child is past half of it: a fine-tune taken then would hold the study up after the child is done
      const takeOne = () => (!s.done && trainHere && job.kind === 'train' && lessThanHalfDone(job.out) ? this.takeLast(s) : undefined);
      for (let other = takeOne(); other; other = takeOne()) {
        try {
          await trainHere!(other.job as ChildJob & { kind: 'train' });
          other.done = true;
        } catch (e) {
          // its failure is the study's when it asks for that fine-tune (it trains it then, and meets the same error);
          // an interrupt is this one's too
          if (e instanceof UserError && e.exitCode === 130) throw e;
        }
      }
      return (await s.ended) === 'ok';
    } finally {
      this.hold(-1);
    }
  }

  /** Takes the child's last queued fine-tune it has not started (and can: its model is there), but `except`. */
  private takeLast(except: Sent): Sent | undefined {
    for (let i = this.order.length - 1; i >= 0; i--) {
      const s = this.sent.get(this.order[i])!;
      if (s === except || s.job.kind !== 'train' || s.started || s.taken || s.done) continue;
      if (!existsSync(join(s.job.modelDir, 'config.json')) || !takeJob(s.job.out)) continue;
      s.taken = true;
      return s;
    }
    return undefined;
  }

  /** Waits on the child keep this process alive (the channel is unref'd otherwise). */
  private waits = 0;
  private hold(d: 1 | -1): void {
    this.waits += d;
    if (this.waits === 1 && d === 1) this.child.channel?.ref();
    if (this.waits === 0) this.child.channel?.unref();
  }

  /** Stops the child (a fine-tune in flight is left resumable on disk: its run.json says "running"). */
  close(): void {
    this.closed = true;
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
    for (const k of this.sent.keys()) rmSync(claimFile(k), { force: true });
  }

  private send(m: ToChild): void {
    if (this.child.connected) this.child.send(m);
  }

  private received(m: FromChild): void {
    const s = this.sent.get(key(m.out));
    if (m.type === 'started') {
      if (s) s.started = true;
      if (s && s.job.kind === 'train' && !this.quiet) log(`study: fine-tune ${s.job.name} on a second core (${s.job.spec.adapter.kind} on ${s.job.spec.data}, ${s.job.spec.epochs} epoch${s.job.spec.epochs === 1 ? '' : 's'})`);
    } else {
      s?.settle(m);
    }
  }
}

const key = (out: string) => resolve(out);

/** Whether the fine-tune at run folder `out` has done under half its optimizer steps (or has not started writing). */
function lessThanHalfDone(out: string): boolean {
  try {
    const p = runProgress(out);
    return !p || !p.total || p.steps < p.total / 2;
  } catch {
    return true; // a run.json being replaced: as if not started
  }
}
