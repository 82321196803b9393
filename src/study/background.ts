// Fine-tunes a study will need, trained ahead on a second CPU core by a forked emlens process while the study goes on
// with other work; the study claims each one when it gets there (waits for it, or trains it itself if not started).
// No tensor axes: jobs are plain training specs, and results are run folders on disk.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainSpec } from '../train/defaults.ts';
import { activeBackend } from '../backend/select.ts';
import { log } from '../util/log.ts';
import { needsTsx, siblingModule } from '../util/package-root.ts';

/** One fine-tune by name (its folder under RUN/finetunes) and the spec it is trained with. */
export interface FinetuneJob {
  name: string;
  spec: TrainSpec;
}

/** Parent → child: train one job. Child → parent: the job ended. */
export type ToChild = { name: string; spec: TrainSpec; out: string; resume: boolean; modelDir: string; backend: string };
export type FromChild = { name: string; ok: true } | { name: string; ok: false; message: string };

const CHILD_URL = siblingModule('background-child', import.meta.url); // .ts from the sources, .js from the build
const CHILD = fileURLToPath(CHILD_URL);

/** Whether a second process would run on a core of its own: CPU backends (wasm, cpu) on a machine with ≥ 2. */
export function canTrainInBackground(): boolean {
  const b = activeBackend();
  return (b === 'wasm' || b === 'cpu') && availableParallelism() >= 2;
}

export class BackgroundTrainer {
  private readonly queue: FinetuneJob[];
  private readonly started = new Map<string, { spec: TrainSpec; done: Promise<void> }>();
  private readonly child: ChildProcess;
  private current?: { name: string; resolve: () => void; reject: (e: Error) => void };
  private closed = false;

  /** Starts the child and its first job; `folder(name)` is the run folder of a fine-tune. */
  constructor(jobs: FinetuneJob[], private readonly modelDir: string, private readonly folder: (name: string) => string, private readonly quiet = false) {
    this.queue = [...jobs];
    // the child runs the TypeScript sources through the same loader as this process
    this.child = fork(CHILD, [], { execArgv: needsTsx(CHILD_URL) ? ['--import', import.meta.resolve('tsx')] : [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromChild) => this.finished(m));
    this.child.on('exit', (code, signal) => {
      if (this.current && !this.closed) this.current.reject(new Error(`background fine-tune ${this.current.name}: the training process exited (${signal ?? `code ${code}`})`));
      this.current = undefined;
    });
    this.next();
  }

  /**
   * The study needs fine-tune `name` now: a promise that settles when the background process has trained it, or
   * undefined when it is not the background's (never queued, or still waiting: then it leaves the queue and the
   * caller trains it).
   */
  claim(name: string, spec: TrainSpec): Promise<void> | undefined {
    const i = this.queue.findIndex((j) => j.name === name);
    if (i >= 0) {
      this.queue.splice(i, 1);
      return undefined;
    }
    const s = this.started.get(name);
    if (!s) return undefined;
    if (JSON.stringify(s.spec) !== JSON.stringify(spec)) throw new Error(`fine-tune ${name}: trained in the background with another spec than the study now asks for`);
    return s.done;
  }

  /** Stops the child (a job in flight is left resumable on disk: its run.json says "running"). */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }

  private next(): void {
    const job = this.queue.shift();
    if (!job || this.closed) return this.close();
    const out = this.folder(job.name);
    const done = new Promise<void>((resolve, reject) => (this.current = { name: job.name, resolve, reject }));
    done.catch(() => undefined); // surfaced where the study claims it
    this.started.set(job.name, { spec: job.spec, done });
    if (!this.quiet) log(`study: fine-tune ${job.name} on a second core (${job.spec.adapter.kind} on ${job.spec.data}, ${job.spec.epochs} epoch${job.spec.epochs === 1 ? '' : 's'})`);
    const msg: ToChild = { name: job.name, spec: job.spec, out, resume: existsSync(join(out, 'run.json')), modelDir: this.modelDir, backend: activeBackend() };
    this.child.send(msg);
  }

  private finished(m: FromChild): void {
    const cur = this.current;
    if (!cur || cur.name !== m.name) return;
    this.current = undefined;
    if (m.ok) cur.resolve();
    else cur.reject(new Error(`background fine-tune ${m.name}: ${m.message}`));
    this.next();
  }
}
