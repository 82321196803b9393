// Fine-tunes a study will need, trained ahead on a second CPU core by a forked emlens process while the study goes on
// with other work; the study claims each one when it gets there (waits for it, or trains it itself if not started).
// No tensor axes: jobs are plain training specs, and results are run folders on disk.
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainSpec } from '../train/defaults.ts';
import { activeBackend } from '../backend/select.ts';
import { log } from '../util/log.ts';
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

/** A job as the child trains it: every path resolved. */
export interface ChildJob {
  name: string;
  spec: TrainSpec;
  out: string;
  modelDir: string;
}

/**
 * Parent → child: the backend, then jobs to append (or, `first`, to put before the waiting ones), and claims of one
 * job (by out folder). Child → parent: a job started, ended (ok, failed, or dropped: its model folder is not there),
 * and the answer to a claim (granted: it was still waiting and left the queue, so the parent trains it).
 */
export type ToChild =
  | { type: 'jobs'; backend: string; jobs: ChildJob[]; first: boolean }
  | { type: 'claim'; out: string };
export type FromChild =
  | { type: 'started'; out: string }
  | { type: 'ended'; out: string; ok: true }
  | { type: 'ended'; out: string; ok: false; message: string; dropped?: boolean }
  | { type: 'claim'; out: string; granted: boolean };

const CHILD_URL = siblingModule('background-child', import.meta.url); // .ts from the sources, .js from the build
const CHILD = fileURLToPath(CHILD_URL);

/** Whether a second process would run on a core of its own: CPU backends (wasm, cpu) on a machine with ≥ 2. */
export function canTrainInBackground(): boolean {
  const b = activeBackend();
  return (b === 'wasm' || b === 'cpu') && availableParallelism() >= 2;
}

interface Sent {
  name: string;
  spec: TrainSpec;
  /** Settles when the child reports the job's end; 'dropped' when the child could not start it (the caller trains it). */
  ended: Promise<'ok' | 'dropped'>;
  done: boolean;
  settle(r: { ok: true } | { ok: false; message: string; dropped?: boolean }): void;
}

/**
 * The second process and its queue. The queue lives in the child, which goes from one job to the next on its own:
 * a parent busy with synchronous work (an eval) does not hold it up. A claim asks the child, between two of its
 * training steps, whether the job is still waiting.
 */
export class BackgroundTrainer {
  private readonly sent = new Map<string, Sent>();
  private readonly claims = new Map<string, (granted: boolean) => void>();
  private readonly child: ChildProcess;
  private closed = false;

  /** Starts the child with these jobs; each lands in `j.out` (see FinetuneJob) trained from `j.modelDir`. */
  constructor(jobs: ChildJob[], private readonly quiet = false) {
    // the child runs the TypeScript sources through the same loader as this process
    this.child = fork(CHILD, [], { execArgv: needsTsx(CHILD_URL) ? ['--import', import.meta.resolve('tsx')] : [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromChild) => this.received(m));
    this.child.on('exit', (code, signal) => {
      if (this.closed) return;
      const why = `the training process exited (${signal ?? `code ${code}`})`;
      for (const s of this.sent.values()) s.settle({ ok: false, message: why });
      for (const c of this.claims.values()) c(true);
      this.claims.clear();
    });
    this.add(jobs, false);
  }

  /** Queues more jobs: after the waiting ones, or (`first`) before them, for work the study needs next. */
  add(jobs: ChildJob[], first: boolean): void {
    const fresh = jobs.filter((j, i) => !this.sent.has(key(j.out)) && jobs.findIndex((k) => key(k.out) === key(j.out)) === i);
    if (!fresh.length || this.closed) return;
    for (const j of fresh) {
      let settle!: Sent['settle'];
      const ended = new Promise<'ok' | 'dropped'>((ok, fail) => {
        settle = (r) => (r.ok ? ok('ok') : r.dropped ? ok('dropped') : fail(new Error(`background fine-tune ${j.name}: ${r.message}`)));
      });
      ended.catch(() => undefined); // surfaced where the study claims it
      const sent: Sent = { name: j.name, spec: j.spec, ended, done: false, settle: (r) => { sent.done = true; settle(r); } };
      this.sent.set(key(j.out), sent);
    }
    this.send({ type: 'jobs', backend: activeBackend(), jobs: fresh, first });
  }

  /**
   * The study needs the fine-tune at `out` now: true once the background process has trained it (a failure there
   * rejects), false when it is the caller's to train (never queued, still waiting — it leaves the queue — or dropped).
   */
  async claim(out: string, spec: TrainSpec, onWait?: () => void): Promise<boolean> {
    const s = this.sent.get(key(out));
    if (!s || this.closed) return false;
    if (JSON.stringify(s.spec) !== JSON.stringify(spec)) throw new Error(`fine-tune ${s.name}: trained in the background with another spec than the study now asks for`);
    const granted = await new Promise<boolean>((answer) => {
      this.claims.set(key(out), answer);
      this.send({ type: 'claim', out });
    });
    if (granted) {
      this.sent.delete(key(out));
      return false;
    }
    if (!s.done) onWait?.();
    return (await s.ended) === 'ok';
  }

  /** Stops the child (a job in flight is left resumable on disk: its run.json says "running"). */
  close(): void {
    this.closed = true;
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }

  private send(m: ToChild): void {
    if (this.child.connected) this.child.send(m);
  }

  private received(m: FromChild): void {
    const s = this.sent.get(key(m.out));
    if (m.type === 'claim') {
      this.claims.get(key(m.out))?.(m.granted);
      this.claims.delete(key(m.out));
    } else if (m.type === 'started') {
      if (s && !this.quiet) log(`study: fine-tune ${s.name} on a second core (${s.spec.adapter.kind} on ${s.spec.data}, ${s.spec.epochs} epoch${s.spec.epochs === 1 ? '' : 's'})`);
    } else {
      s?.settle(m);
    }
  }
}

const key = (out: string) => resolve(out);

