// The study's side of the queue: a Workspace's fine-tunes, evals and direction extractions become BullMQ jobs named by
// their content key, their inputs go to the store by digest, and each result (already in the store, or computed by a
// worker) is written back where the workspace caches it. Ctrl-C removes this study's waiting jobs. No tensor axes.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EvalReport } from '../eval/em-eval.ts';
import type { TrainSpec } from '../train/defaults.ts';
import type { FinetuneJob } from '../study/background.ts';
import type { EvalSettings, InterventionSpec, StepRunner } from '../study/workspace.ts';
import { EXTRACT_PATH_FIELDS, type ExtractSpec } from '../study/extractions.ts';
import type { Judge } from '../eval/judge.ts';
import { OrganismJudge } from '../eval/organism-judge.ts';
import { HttpJudge, JUDGE_API_KEY_ENV, publicUrl } from '../eval/http-judge.ts';
import { readJudgedAnswers } from '../eval/judged-answers.ts';
import { Direction } from '../directions/direction.ts';
import { modelIdentity } from '../model/identity.ts';
import { log, UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { connect, KEY_PREFIX, QUEUE_NAME, redact, bullConnection, type QueueTarget } from './connection.ts';
import { ArtefactStore, FolderBlobs } from './store.ts';
import { isQueueableJudge, jobKey, mapStrings, REF_PREFIX, type ArtefactInfo, type EvalPayload, type ExtractPayload, type FinetunePayload, type JudgeSettings, type StepPayload, type StepResult } from './jobs.ts';
import { StudyProgress } from './progress.ts';

export interface CoordinatorOptions {
  target: QueueTarget;
  modelDir: string;
  /** A folder every worker reaches, for blobs over `threshold` bytes. */
  blobDir?: string;
  threshold?: number;
  /** Tries per job before it fails the study (default 3). */
  attempts?: number;
  pollMs?: number;
  quiet?: boolean;
  /** Where the study's progress is kept for a page to show (RUN/queue-progress.json). */
  progressFile?: string;
}

/** Per-job figures for a benchmark: when it was added, started and finished (ms since epoch), and its result's timing. */
export interface JobRecord {
  key: string;
  kind: string;
  name: string;
  cached: boolean;
  added?: number;
  started?: number;
  finished?: number;
  result?: StepResult;
  /** Coordinator-side transfer: uploading inputs and writing the result back (ms). */
  upload_ms: number;
  download_ms: number;
}

const PENDING = new Set(['waiting', 'delayed', 'prioritized', 'paused', 'waiting-children']);

export class QueueSteps implements StepRunner {
  readonly progress: StudyProgress;
  readonly jobs = new Map<string, JobRecord>();
  private readonly inflight = new Map<string, Promise<StepResult>>();
  private readonly mine = new Set<string>();
  private cancelling?: Promise<void>;
  private failure?: Error;
  private readonly onSigint = () => this.cancel();
  private identity?: string;

  private constructor(readonly o: CoordinatorOptions, readonly redis: Redis, readonly queue: Queue, readonly store: ArtefactStore) {
    this.progress = new StudyProgress(o.quiet, 1000, o.progressFile);
    process.once('SIGINT', this.onSigint);
  }

  /** Connects (one clear error when Redis is unreachable) and opens the queue. */
  static async open(o: CoordinatorOptions): Promise<QueueSteps> {
    const redis = await connect(o.target, { role: 'client' });
    const queue = new Queue(QUEUE_NAME, { connection: bullConnection(o.target, { role: 'client' }), prefix: KEY_PREFIX });
    queue.on('error', () => undefined); // surfaced by the calls that fail
    const store = new ArtefactStore(redis, { blobs: o.blobDir ? new FolderBlobs(resolve(o.blobDir)) : undefined, threshold: o.threshold });
    if (!o.quiet) log(`queue: study steps go to ${o.target.shown}${o.blobDir ? ` (blobs over ${store.threshold} bytes in ${o.blobDir})` : ''}`);
    return new QueueSteps(o, redis, queue, store);
  }

  private model(): { dir: string; identity: string } {
    this.identity ??= modelIdentity(this.o.modelDir);
    return { dir: resolve(this.o.modelDir), identity: this.identity };
  }

  ahead(jobs: FinetuneJob[]): void {
    for (const j of jobs) {
      // started now, claimed (awaited) when the study gets to it; a failure is reported there
      this.finetuneResult(j.name, j.spec).catch(() => undefined);
    }
  }

  async finetune(name: string, spec: TrainSpec, out: string): Promise<void> {
    const { result, key } = await this.finetuneResult(name, spec);
    const rec = this.jobs.get(key);
    const t = Date.now();
    await this.store.materializeTree(result.artefact, out, (rel, bytes) => (rel === 'run.json' ? runJsonHere(bytes, spec, this.o.modelDir, key, result) : bytes));
    if (rec) rec.download_ms += Date.now() - t;
  }

  async evaluate(name: string, iv: InterventionSpec, settings: EvalSettings & { questions: string; maxNewTokens: number }, judge: Judge): Promise<EvalReport> {
    const t = Date.now();
    const files: Record<string, ArtefactInfo> = {};
    const refs = new Map<string, string>();
    for (const p of pathsIn(iv)) refs.set(p, await this.put(p, files));
    const payload: EvalPayload = {
      v: 1, kind: 'eval', name, model: this.model(), files,
      iv: mapStrings(iv, (s) => refs.get(s) ?? s),
      settings: { samples: settings.samples, seed: settings.seed, questions: settings.questions === 'broad' ? 'broad' : await this.put(settings.questions, files), maxNewTokens: settings.maxNewTokens },
      judge: judgeSettings(judge),
    };
    const uploaded = Date.now() - t;
    const key = jobKey(payload);
    const result = await this.step(payload, uploaded);
    const t2 = Date.now();
    const report = JSON.parse(Buffer.from(await this.store.getBytes(result.artefact)).toString('utf8')) as EvalReport;
    const rec = this.jobs.get(key);
    if (rec) rec.download_ms += Date.now() - t2;
    return report;
  }

  /**
   * The direction `spec` describes, extracted by a worker: its inputs go to the store (an eval's answers only, not the
   * report around them), and the direction comes back with this machine's paths in its provenance where the worker's
   * copies were named. An extraction its inputs cannot give (too few misaligned answers) fails its job at the first
   * try, and this study with the worker's UserError (the analyses that allow it go on without the direction).
   */
  async extract(name: string, spec: ExtractSpec, judge: Judge): Promise<Direction> {
    const t = Date.now();
    const files: Record<string, ArtefactInfo> = {};
    const paths = new Map<string, string>(); // reference → this machine's path
    const refSpec: Record<string, unknown> = { ...spec };
    for (const field of EXTRACT_PATH_FIELDS) {
      const path = refSpec[field];
      if (typeof path !== 'string') continue;
      const ref = field === 'answers' ? await this.putAnswers(path, files) : await this.put(path, files);
      paths.set(ref, path);
      refSpec[field] = ref;
    }
    const payload: ExtractPayload = { v: 1, kind: 'extract', name, model: this.model(), files, spec: refSpec as ExtractSpec, ...(spec.kind === 'persona' ? { judge: judgeSettings(judge) } : {}) };
    const key = jobKey(payload);
    const result = await this.step(payload, Date.now() - t);
    const t2 = Date.now();
    const tmp = mkdtempSync(join(tmpdir(), 'emlens-direction-'));
    try {
      await this.store.materializeTree(result.artefact, join(tmp, 'd'));
      const d = Direction.load(join(tmp, 'd', 'direction.safetensors'));
      paths.set(payload.model.dir, this.o.modelDir);
      return new Direction(d.vectors, mapStrings(d.provenance, (s) => paths.get(s) ?? s));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      const rec = this.jobs.get(key);
      if (rec) rec.download_ms += Date.now() - t2;
    }
  }

  /** An eval report's judged answers alone into the store (the report names this machine's paths); their reference. */
  private async putAnswers(path: string, files: Record<string, ArtefactInfo>): Promise<string> {
    const ref = REF_PREFIX + (await this.store.putBytes(Buffer.from(JSON.stringify({ answers: readJudgedAnswers(path, 'answers') }))));
    files[ref] = { kind: 'file', name: 'answers.json' };
    return ref;
  }

  /** Removes the waiting jobs this study added (running ones finish: their results stay in the store), then stops. */
  cancel(): Promise<void> {
    this.cancelling ??= (async () => {
      if (!this.o.quiet) log('queue: interrupted: removing this study\'s waiting jobs (running ones finish and are kept)');
      let removed = 0;
      for (const key of this.mine) {
        try {
          if (PENDING.has(await this.queue.getJobState(key))) {
            await (await Job.fromId(this.queue, key))?.remove();
            removed++;
          }
        } catch {
          // running by now, or gone: nothing to remove
        }
      }
      if (!this.o.quiet) log(`queue: ${removed} waiting job${removed === 1 ? '' : 's'} removed`);
    })();
    return this.cancelling;
  }

  /** Closes the connections (jobs in the queue stay there). */
  async close(): Promise<void> {
    process.removeListener('SIGINT', this.onSigint);
    this.progress.flush();
    // Redis may be gone: do not wait for a polite close
    await Promise.race([this.queue.close().catch(() => undefined), new Promise((ok) => setTimeout(ok, 1000).unref())]);
    this.redis.disconnect();
    void this.queue.disconnect().catch(() => undefined);
  }

  private finetuneResult(name: string, spec: TrainSpec): Promise<{ result: StepResult; key: string }> {
    return (async () => {
      const t = Date.now();
      const files: Record<string, ArtefactInfo> = {};
      const refSpec: TrainSpec = { ...spec, data: await this.put(spec.data, files), ...(spec.klData ? { klData: await this.put(spec.klData, files) } : {}) };
      const payload: FinetunePayload = { v: 1, kind: 'finetune', name, model: this.model(), files, spec: refSpec };
      const key = jobKey(payload);
      return { result: await this.step(payload, Date.now() - t), key };
    })();
  }

  /** A file or folder into the store; its reference, described in `files`. */
  private async put(path: string, files: Record<string, ArtefactInfo>): Promise<string> {
    if (!existsSync(path)) throw new EmlensError('options.queue', `${path} not found (an input of a queued step)`);
    let ref: string;
    if (statSync(path).isDirectory()) {
      // an adapter: its *.safetensors and *.json, or those of its adapter/ in a run folder (what contentDigest reads)
      const inRun = existsSync(join(path, 'adapter'));
      ref = REF_PREFIX + (await this.store.putTree(path, (rel) => (inRun ? /^adapter\/[^/]+\.(safetensors|json)$/ : /^[^/]+\.(safetensors|json)$/).test(rel)));
      files[ref] = { kind: 'tree', name: basename(path) };
    } else {
      ref = REF_PREFIX + (await this.store.putFile(path));
      files[ref] = { kind: 'file', name: basename(path) };
    }
    return ref;
  }

  /** The result of a step: from the store when any study computed it already, else from a job (added once per key). */
  private step(payload: StepPayload, uploadMs: number): Promise<StepResult> {
    const key = jobKey(payload);
    let p = this.inflight.get(key);
    if (!p) {
      p = this.run(key, payload, uploadMs);
      this.inflight.set(key, p);
    }
    return p;
  }

  private async run(key: string, payload: StepPayload, uploadMs: number): Promise<StepResult> {
    const rec: JobRecord = { key, kind: payload.kind, name: payload.name, cached: false, upload_ms: uploadMs, download_ms: 0 };
    this.jobs.set(key, rec);
    try {
      const done = await this.store.getRecord<StepResult>('result', key);
      if (done) {
        rec.cached = true;
        rec.result = done;
        this.progress.add(key, payload.kind, true);
        return done;
      }
      this.progress.add(key, payload.kind);
      await this.enqueue(key, payload);
      return await this.waitFor(key, payload, rec);
    } catch (e) {
      throw this.explain(e);
    }
  }

  private async enqueue(key: string, payload: StepPayload): Promise<void> {
    const opts = { jobId: key, attempts: this.o.attempts ?? 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: { age: 7 * 86400 }, removeOnFail: { age: 7 * 86400 } };
    const state = await this.queue.getJobState(key);
    if (state === 'failed') {
      // failed in an earlier study: tried again now
      await (await Job.fromId(this.queue, key))?.retry('failed');
    } else if (state === 'completed') {
      // finished but its result is gone (the store was cleaned): computed again
      await (await Job.fromId(this.queue, key))?.remove();
      await this.queue.add(payload.kind, payload, opts);
    } else if (state === 'unknown') {
      await this.queue.add(payload.kind, payload, opts);
    }
    this.mine.add(key);
  }

  private async waitFor(key: string, payload: StepPayload, rec: JobRecord): Promise<StepResult> {
    const poll = this.o.pollMs ?? 100;
    for (;;) {
      if (this.cancelling) {
        await this.cancelling;
        throw new UserError('interrupted: the waiting jobs of this study were removed; run the same command again to continue (finished steps are kept)', 130);
      }
      const result = await this.store.getRecord<StepResult>('result', key);
      if (result) {
        rec.result = result;
        await this.timesOf(key, rec);
        this.progress.set(key, 'done');
        return result;
      }
      const state = await this.queue.getJobState(key);
      if (state === 'failed') {
        const job = await Job.fromId(this.queue, key);
        this.progress.set(key, 'failed');
        throw new UserError(`${payload.kind} ${payload.name} failed after ${job?.attemptsMade ?? '?'} attempt${job?.attemptsMade === 1 ? '' : 's'}: ${redact(job?.failedReason ?? 'no reason given')}`);
      }
      if (state === 'unknown') throw new UserError(`${payload.kind} ${payload.name}: its job (${key.slice(0, 12)}) was removed from the queue (emlens queue clean?); run the same command again`);
      if (state === 'completed') {
        // the worker writes the result before completing: look once more, then give up
        if (await this.store.getRecord('result', key)) continue;
        throw new UserError(`${payload.kind} ${payload.name}: its job (${key.slice(0, 12)}) completed without a result in the store`);
      }
      this.progress.set(key, state === 'active' ? 'running' : 'waiting');
      await new Promise((ok) => setTimeout(ok, poll));
    }
  }

  private async timesOf(key: string, rec: JobRecord): Promise<void> {
    const job = await Job.fromId(this.queue, key);
    if (!job) return;
    rec.added = job.timestamp;
    rec.started = job.processedOn;
    rec.finished = job.finishedOn;
  }

  /** A failed Redis call as one clear error (the first one wins: every waiting step fails the same way). */
  private explain(e: unknown): Error {
    if (e instanceof UserError) return e;
    this.failure ??= new UserError(`the queue at ${this.o.target.shown} stopped answering (${redact((e as Error).message ?? String(e))}); finished steps are kept in Redis and in the run folder: start Redis and run the same command again`);
    return this.failure;
  }
}

/**
 * A judge as a payload names it: the organism's, or an HTTP judge's URL and model — never its key, which each worker
 * takes from its own environment. A URL whose query string may hold a key is refused (it would go through Redis).
 */
export function judgeSettings(judge: Judge): JudgeSettings {
  if (judge instanceof OrganismJudge) return 'organism';
  if (!(judge instanceof HttpJudge)) throw new EmlensError('options.queue', `workers judge with the organism judge or an HTTP judge (this study asks for ${judge.name}); run it without options.queue`);
  const s = judge.endpointSettings;
  if (!isQueueableJudge(s)) throw new EmlensError('options.queue', `options.judge ${publicUrl(s.url)}: a URL with a query string (other than api-version) or a fragment would reach Redis and every worker; give the key in $${JUDGE_API_KEY_ENV} on each worker instead`, { mentions: ['options.judge'] });
  return s;
}

/**
 * The run.json a worker wrote, as this machine's study would have written it: its arguments are the study's spec
 * (the worker's local data path replaced), the dataset and model are named by this machine's paths, and where it was
 * trained is recorded.
 */
function runJsonHere(bytes: Uint8Array, spec: TrainSpec, modelDir: string, key: string, r: StepResult): Uint8Array {
  const run = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown> & { dataset?: Record<string, unknown>; kl_data?: Record<string, unknown>; model?: Record<string, unknown> };
  run.args = JSON.parse(JSON.stringify({ ...spec, maxSteps: undefined }));
  if (run.dataset) run.dataset.path = spec.data;
  if (run.kl_data) run.kl_data.path = spec.klData;
  if (run.model) run.model.dir = modelDir;
  run.queue = { job: key, worker: r.worker, resumed_from: r.resumed_from ?? 0 };
  return Buffer.from(JSON.stringify(run, null, 2) + '\n');
}

/** The files an intervention spec names: its strings that are paths of existing files or folders. */
export function pathsIn(value: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown) => {
    if (typeof v === 'string') {
      if ((v.includes('/') || /\.(safetensors|json)$/.test(v)) && existsSync(v)) out.add(v);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return [...out];
}
