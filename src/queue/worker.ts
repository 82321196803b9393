// `emlens worker`: takes study steps of any study from the queue, checks each payload against its schema, fetches its
// inputs from the store by digest, runs it through the same Workspace calls as a local study, and leaves the result in
// the store. Fine-tunes send each new checkpoint to the store, so another worker resumes one whose worker died.
// No tensor axes at this level.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { activeBackend } from '../backend/select.ts';
import type { InterventionSpec } from '../study/workspace.ts';
import type { TrainSpec } from '../train/defaults.ts';
import { modelIdentity } from '../model/identity.ts';
import { log, UserError } from '../util/log.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { connect, KEY_PREFIX, processId, QUEUE_NAME, redact, bullConnection, type QueueTarget } from './connection.ts';
import { ArtefactStore, FolderBlobs } from './store.ts';
import type { FromStepChild, ToStepChild } from './step-child.ts';
import { checkPayload, mapStrings, refsIn, type EvalPayload, type ExtractPayload, type FinetunePayload, type ModelRef, type StepPayload, type StepResult } from './jobs.ts';
import type { ExtractSpec } from '../study/extractions.ts';
import { needsTsx, siblingModule } from '../util/package-root.ts';

export interface WorkerOptions {
  target: QueueTarget;
  concurrency?: number;
  blobDir?: string;
  threshold?: number;
  /** This worker's folder: fetched artefacts (by digest), its models' workspaces, fine-tunes in progress. */
  workDir?: string;
  name?: string;
  /** BullMQ lock of a running job (renewed at half of it while the job runs); a dead worker's job is retried after it. */
  lockMs?: number;
  stalledMs?: number;
  maxStalled?: number;
  /** How often a fine-tune's folder is checked for a new checkpoint to send to the store. */
  checkpointMs?: number;
  /** Where an HTTP judge's judgements are cached on this machine (its key: $EMLENS_JUDGE_API_KEY here). */
  judgeCache?: string;
  quiet?: boolean;
}

/** Defaults for hour-long steps: a dead worker's job goes back to the queue within about 3 minutes. */
export const WORKER_DEFAULTS = { lockMs: 120_000, stalledMs: 60_000, maxStalled: 3, checkpointMs: 2000 };

export interface RunningWorker {
  id: string;
  /** Stops taking jobs and waits for the running ones. */
  close(): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const id = processId(o.name);
  const work = resolve(o.workDir ?? join(tmpdir(), `emlens-worker-${process.pid}`));
  mkdirSync(work, { recursive: true });
  const redis = await connect(o.target, { role: 'worker' });
  const store = new ArtefactStore(redis, { blobs: o.blobDir ? new FolderBlobs(resolve(o.blobDir)) : undefined, threshold: o.threshold });
  const lockMs = o.lockMs ?? WORKER_DEFAULTS.lockMs;
  const runner = new StepWorker(id, work, store, lockMs, o.checkpointMs ?? WORKER_DEFAULTS.checkpointMs, o.quiet ?? false, o.concurrency ?? 1, o.judgeCache);
  const worker = new Worker(QUEUE_NAME, (job, token) => runner.process(job, token), {
    connection: bullConnection(o.target, { role: 'worker' }), prefix: KEY_PREFIX, concurrency: o.concurrency ?? 1,
    lockDuration: lockMs, stalledInterval: o.stalledMs ?? WORKER_DEFAULTS.stalledMs, maxStalledCount: o.maxStalled ?? WORKER_DEFAULTS.maxStalled,
  });
  let lastError = 0;
  worker.on('error', (e) => {
    // Redis gone: BullMQ reconnects; say so once in a while, never the URL's password
    if (Date.now() - lastError > 10_000) log(`worker ${id}: queue error: ${redact(e.message)} (retrying)`);
    lastError = Date.now();
  });
  worker.on('failed', (job, e) => job && log(`worker ${id}: ${job.name} ${(job.data as StepPayload).name ?? ''} failed: ${redact(e.message)}`));
  if (!o.quiet) log(`worker ${id}: taking steps from ${o.target.shown} (concurrency ${o.concurrency ?? 1}, folder ${work})`);
  return {
    id,
    async close() {
      await worker.close();
      runner.close();
      redis.disconnect();
    },
  };
}

const CHILD_URL = siblingModule('step-child', import.meta.url); // .ts from the sources, .js from the build
const CHILD = fileURLToPath(CHILD_URL);

/** One process computing steps, reused from job to job (it keeps its model loaded). */
class StepProcess {
  readonly child: ChildProcess;
  private next = 0;
  private readonly pending = new Map<number, { ok: (r: FromStepChild) => void; fail: (e: Error) => void }>();
  busy = false;
  constructor() {
    this.child = fork(CHILD, [], { execArgv: needsTsx(CHILD_URL) ? ['--import', import.meta.resolve('tsx')] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromStepChild) => {
      this.pending.get(m.id)?.ok(m);
      this.pending.delete(m.id);
    });
    this.child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.fail(new Error(`the step process exited (${signal ?? `code ${code}`})`));
      this.pending.clear();
    });
  }
  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  run(m: DistributiveOmit<ToStepChild, 'id'>): Promise<FromStepChild> {
    const id = this.next++;
    return new Promise((ok, fail) => {
      this.pending.set(id, { ok, fail });
      this.child.send({ ...m, id } as ToStepChild);
    });
  }
}
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

class StepWorker {
  private readonly checked = new Set<string>();
  private readonly pool: StepProcess[] = [];
  constructor(readonly id: string, readonly work: string, readonly store: ArtefactStore, readonly lockMs: number, readonly checkpointMs: number, readonly quiet: boolean, readonly slots: number, readonly judgeCache?: string) {}

  close(): void {
    // the step processes exit when their channel closes (a trainer's signal handlers may keep a signal from ending them)
    for (const p of this.pool) if (p.child.connected) p.child.disconnect();
  }

  /** Computes in a free step process (one per concurrent job). */
  private async compute(m: DistributiveOmit<ToStepChild, 'id' | 'judge' | 'judgeCache'> & { judge?: ToStepChild['judge'] }): Promise<FromStepChild & { ok: true }> {
    let p = this.pool.find((x) => !x.busy && x.alive());
    if (!p) {
      const dead = this.pool.findIndex((x) => !x.alive());
      if (dead >= 0) this.pool.splice(dead, 1);
      p = new StepProcess();
      this.pool.push(p);
    }
    p.busy = true;
    try {
      const r = await p.run({ ...m, judge: m.judge ?? 'organism', judgeCache: this.judgeCache } as DistributiveOmit<ToStepChild, 'id'>);
      if (!r.ok) throw r.final ? new UnrecoverableError(r.message) : new Error(r.message);
      return r;
    } finally {
      p.busy = false;
    }
  }

  async process(job: Job, token: string | undefined): Promise<StepResult> {
    try {
      const p = checkPayload(job.name, job.data);
      log(`worker ${this.id}: ${p.kind} ${p.name} (job ${String(job.id).slice(0, 12)}, attempt ${job.attemptsMade + 1})`);
      const t0 = Date.now();
      const runDir = this.checkModel(p.model);
      const local = await this.fetchInputs(p);
      const fetchMs = Date.now() - t0;
      const { runMs, putMs, ...r } = p.kind === 'finetune'
        ? await this.finetune(job, token, runDir, p, local)
        : p.kind === 'eval' ? await this.evaluate(String(job.id), runDir, p, local) : await this.extract(String(job.id), runDir, p, local);
      const result: StepResult = { ...r, kind: p.kind, worker: this.id, timing: { fetch_ms: fetchMs, run_ms: runMs, put_ms: putMs } };
      await this.store.setRecord('result', String(job.id), result);
      log(`worker ${this.id}: ${p.kind} ${p.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return result;
    } catch (e) {
      // the worker's name goes with its error to the study that waits for it (no further try where none would help)
      const message = `worker ${this.id}: ${redact((e as Error).message ?? String(e))}`;
      throw e instanceof UnrecoverableError ? new UnrecoverableError(message) : new Error(message);
    }
  }

  /** The workspace folder of a model this machine has (the same folder and files: its identity is checked once). */
  private checkModel(m: ModelRef): string {
    if (!this.checked.has(m.identity)) {
      if (!existsSync(join(m.dir, 'config.json'))) throw new UserError(`model ${m.dir} is not on this machine (give every worker the study's model at the same path)`);
      const identity = modelIdentity(m.dir);
      if (identity !== m.identity) throw new UserError(`model ${m.dir} here is not the study's model (its files differ: identity ${identity.slice(0, 12)} ≠ ${m.identity.slice(0, 12)})`);
      this.checked.add(m.identity);
    }
    return join(this.work, 'models', m.identity.slice(0, 16));
  }

  /** Every reference of a payload as a path on this machine (fetched once per digest). */
  private async fetchInputs(p: StepPayload): Promise<Map<string, string>> {
    const local = new Map<string, string>();
    for (const ref of refsIn(p)) {
      const digest = ref.slice('artefact:'.length);
      const info = p.files[ref];
      const dir = join(this.work, 'artefacts', digest);
      const path = info.kind === 'tree' ? dir : join(dir, info.name);
      if (!existsSync(path)) {
        if (info.kind === 'tree') await this.store.materializeTree(digest, dir);
        else writeFileAtomic(path, await this.store.getBytes(digest));
      }
      local.set(ref, path);
    }
    return local;
  }

  private async evaluate(key: string, runDir: string, p: EvalPayload, local: Map<string, string>): Promise<{ artefact: string; runMs: number; putMs: number }> {
    const t = Date.now();
    const iv = mapStrings(p.iv, (s) => local.get(s) ?? s) as InterventionSpec;
    const questions = p.settings.questions === 'broad' ? 'broad' : local.get(p.settings.questions)!;
    const { report } = await this.compute({ kind: 'eval', runDir, modelDir: p.model.dir, backend: activeBackend(), quiet: this.quiet, name: `job-${key}`, iv, settings: { ...p.settings, questions }, judge: p.judge });
    const runMs = Date.now() - t;
    const artefact = await this.store.putBytes(Buffer.from(JSON.stringify(report)));
    return { artefact, runMs, putMs: Date.now() - t - runMs };
  }

  /** The direction into the store as a folder (direction.safetensors and its .json), its provenance naming references. */
  private async extract(key: string, runDir: string, p: ExtractPayload, local: Map<string, string>): Promise<{ artefact: string; runMs: number; putMs: number }> {
    const t = Date.now();
    const spec = mapStrings(p.spec, (s) => local.get(s) ?? s) as ExtractSpec;
    const out = join(runDir, 'extractions', key);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    await this.compute({ kind: 'extract', runDir, modelDir: p.model.dir, backend: activeBackend(), quiet: this.quiet, name: `job-${key}`, spec, labels: Object.fromEntries([...local].map(([ref, path]) => [path, ref])), out, judge: p.judge });
    const runMs = Date.now() - t;
    const artefact = await this.store.putTree(out, (rel) => rel === 'direction.safetensors' || rel === 'direction.json');
    rmSync(out, { recursive: true, force: true });
    return { artefact, runMs, putMs: Date.now() - t - runMs };
  }

  private async finetune(job: Job, token: string | undefined, runDir: string, p: FinetunePayload, local: Map<string, string>): Promise<{ artefact: string; resumed_from: number; runMs: number; putMs: number }> {
    const key = String(job.id);
    const spec: TrainSpec = mapStrings(p.spec, (s) => local.get(s) ?? s);
    const out = join(runDir, 'finetunes', key);
    const ck = await this.store.getRecord<{ tree: string; step: number; worker: string }>('ckpt', key);
    let resumed = 0;
    if (ck) {
      // the run as the last worker left it, with this machine's data path in its recorded arguments
      await this.store.materializeTree(ck.tree, out, (rel, bytes) => (rel === 'run.json' ? withArgs(bytes, spec) : bytes));
      resumed = ck.step;
      log(`worker ${this.id}: fine-tune ${p.name} resumes from checkpoint step ${ck.step} (saved to the store by worker ${ck.worker})`);
    }
    const t = Date.now();
    let uploaded = resumed;
    let busy = false;
    const sync = async () => {
      if (busy) return;
      busy = true;
      try {
        const step = newestCheckpoint(out);
        if (step > uploaded) {
          const tree = await this.store.putTree(out, (rel) => rel === 'run.json' || rel === 'metrics.jsonl' || rel === 'lora_b.jsonl' || rel.startsWith('snapshots/') || rel.startsWith(`checkpoints/step-${step}/`));
          await this.store.setRecord('ckpt', key, { tree, step, worker: this.id, at: new Date().toISOString() });
          uploaded = step;
          if (!this.quiet) log(`worker ${this.id}: fine-tune ${p.name}: checkpoint step ${step} saved to the store`);
        }
        // the heartbeat: BullMQ renews the lock too, this keeps it while checkpoints are sent
        if (token) await job.extendLock(token, this.lockMs);
      } catch (e) {
        log(`worker ${this.id}: fine-tune ${p.name}: checkpoint not sent (${redact((e as Error).message)}); training goes on`);
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void sync(), this.checkpointMs);
    try {
      await this.compute({ kind: 'finetune', runDir, modelDir: p.model.dir, backend: activeBackend(), quiet: this.quiet, name: key, spec });
    } finally {
      clearInterval(timer);
    }
    const runMs = Date.now() - t;
    const artefact = await this.store.putTree(out, (rel) => !rel.startsWith('checkpoints/') && !rel.endsWith('.tmp'));
    await this.store.deleteRecord('ckpt', key);
    return { artefact, resumed_from: resumed, runMs, putMs: Date.now() - t - runMs };
  }
}

/** The newest checkpoint step a run folder holds complete (0: none). */
function newestCheckpoint(out: string): number {
  const root = join(out, 'checkpoints');
  if (!existsSync(root)) return 0;
  return readdirSync(root)
    .filter((n) => /^step-\d+$/.test(n) && existsSync(join(root, n, 'state.json')))
    .reduce((m, n) => Math.max(m, Number(n.slice(5))), 0);
}

/** A run.json with its recorded arguments set to this machine's spec (a resumed run checks them). */
function withArgs(bytes: Uint8Array, spec: TrainSpec): Uint8Array {
  const run = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown> & { dataset?: Record<string, unknown> };
  run.args = JSON.parse(JSON.stringify({ ...spec, maxSteps: undefined }));
  if (run.dataset) run.dataset.path = spec.data;
  return Buffer.from(JSON.stringify(run, null, 2) + '\n');
}
