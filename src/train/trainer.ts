// The SFT trainer's run folder around fit's optimisation loop: data files tokenized by file:line, atomic checkpoints
// with exact resume, Ctrl-C, run.json, metrics.jsonl and the LoRA-B trajectory. Axes: every tensor is an adapter variable.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, readdirSync, rmSync, appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Model } from '../model/modules.ts';
import type { ChatTokenizer } from '../model/tokenizer.ts';
import { readTrainingState, writeTrainingState } from './state-file.ts';
import { createAdapter, type AdapterSpec, type TrainableAdapter } from '../adapters/adapter.ts';
import { readChatJsonl, tokenizeChat, type TokenizedExample } from './data.ts';
import { fileSha256 } from '../util/hash.ts';
import { AdamW, hfNoDecay } from './optim.ts';
import { checkMaxLen, fit, hasTarget, totalFitSteps, type FitState, type OptimSettings, type StepMetrics } from './fit.ts';
import { phaseTransition, type BSnapshot } from './phase.ts';
import { writeDirAtomic, writeJsonAtomic, writeFileAtomic, cleanStaleTemp, readTextFile, guardOutput } from '../util/fs.ts';
import { UserError, log } from '../util/log.ts';
import { EmlensError, namingParam } from '../util/errors.ts';
import { lockRunFolder } from '../util/lock.ts';
import { firstNonFinite } from '../util/validate.ts';
import { Progress } from '../util/progress.ts';
import { activeBackend } from '../backend/select.ts';
import { EMLENS_VERSION } from '../util/version.ts';
import { IDENTITY_FILES, modelIdentity, sameModelFolder } from '../model/identity.ts';

/** What `emlens train` runs: fit()'s settings, the data file, and the run folder's bookkeeping. */
export interface TrainOptions extends OptimSettings {
  data: string;
  out: string;
  adapter: AdapterSpec;
  /** Checkpoint and LoRA-B snapshot every N optimizer steps (0 = only at the end). */
  saveEvery: number;
  keepCheckpoints: number;
  /** Steps after which the adapter is also saved whole, as RUN/snapshots/step-N/adapter (e.g. EM along the run). */
  snapshotSteps?: number[];
  /** Also at this many evenly spaced steps of the run (evenlySpacedSteps: the last is the run's end). */
  snapshotCount?: number;
  resume: boolean;
  klData?: string;
  quiet?: boolean;
  /** Stops training after the current step, with a checkpoint (status 'interrupted'). Without one, Ctrl-C does. */
  signal?: AbortSignal;
  /** Called after each optimizer step with its metrics (the line metrics.jsonl gets). */
  onStep?: (m: StepMetrics) => void;
}

export interface TrainResult {
  steps: number;
  totalSteps: number;
  status: 'complete' | 'early-stop' | 'interrupted' | 'max-steps';
  finalLoss: number;
  adapterDir: string;
}

export type { StepMetrics } from './fit.ts';

/** The loop's counters a checkpoint keeps (state.json). */
type ResumeState = FitState;

/** The arguments run.json records: all but where the run writes and how it reports (and a step limit for this session). */
function runArgs(o: Partial<TrainOptions>): Record<string, unknown> {
  return { ...o, out: undefined, resume: undefined, quiet: undefined, maxSteps: undefined, signal: undefined, onStep: undefined };
}

/** Whether a run's recorded arguments are these (what --resume and a study's cache both ask). */
export function sameRunArgs(recorded: unknown, o: Partial<TrainOptions>): boolean {
  return JSON.stringify(recorded) === JSON.stringify(runArgs(o));
}

/** Fine-tunes an adapter on `o.data` and writes RUN/adapter, RUN/metrics.jsonl, RUN/checkpoints, RUN/run.json. */
export async function train(base: Model, tok: ChatTokenizer, o: TrainOptions, modelDir: string): Promise<TrainResult> {
  checkMaxLen(o.maxLen, base.config.maxPositions);
  const examples = withTargets(tokenizeWithinContext(tok, o.data, base.config.maxPositions, o.maxLen, o.quiet), o.maxLen, o.data);
  const klExamples = o.klWeight > 0 ? loadKlData(tok, o, base.config.maxPositions) : [];
  // never into a model folder or someone else's files; one process per run folder: a second `train --out` on it
  // refuses with the holder's pid (released on exit)
  namingParam('options.out', () => guardOutput(o.out, { flag: 'options.out', kind: 'dir', ownedIf: ['run.json', 'metrics.jsonl', 'adapter', 'checkpoints'] }));
  const lock = lockRunFolder(o.out, 'train');
  try {
    return await trainLocked(base, tok, o, modelDir, examples, klExamples);
  } finally {
    lock.release();
  }
}

async function trainLocked(base: Model, tok: ChatTokenizer, o: TrainOptions, modelDir: string, examples: TokenizedExample[], klExamples: TokenizedExample[]): Promise<TrainResult> {
  // what a killed earlier process left half-written (NAME.PID.tmp, NAME.PID.old of dead pids)
  for (const p of cleanStaleTemp(o.out, ['checkpoints'])) if (!o.quiet) log(`train: removed ${p}, left by a process that is gone`);
  const args = runArgs(o);
  const runJson = join(o.out, 'run.json');
  const datasetHash = fileSha256(o.data);
  const identity = modelIdentity(modelDir);
  const klHash = o.klWeight > 0 && o.klData ? fileSha256(o.klData) : undefined;
  if (o.resume && existsSync(runJson)) {
    const prev = readRunJson(runJson);
    if (!sameRunArgs(prev.args, o) || prev.dataset?.sha256 !== datasetHash) {
      throw new EmlensError('options.resume', `${o.out} was started with other arguments or data; start a new run folder`);
    }
    // the same arguments on another model (or other KL data) would continue a run it did not start
    if (prev.model?.identity !== undefined && prev.model.identity !== identity) {
      const which = sameModelFolder(prev.model.dir, modelDir) ? `${prev.model.dir} before its files (${IDENTITY_FILES}) changed` : `another model (${prev.model.dir})`;
      throw new EmlensError('options.resume', `${o.out} was started on ${which}; start a new run folder`);
    }
    if (prev.kl_data?.sha256 !== undefined && prev.kl_data.sha256 !== klHash) throw new EmlensError('options.resume', `${o.out} was started with other KL data; start a new run folder`);
    // a finished run is not trained again (that would restart from its last checkpoint and overwrite final_loss)
    const done = finishedRun(o.out, prev);
    if (done) {
      if (!o.quiet) log(`--resume: ${o.out} is already ${done.status} (${done.steps}/${done.totalSteps} steps); nothing to do`);
      return done;
    }
  } else if (!o.resume && existsSync(join(o.out, 'metrics.jsonl'))) {
    throw new EmlensError('options.out', 'a run is already there (resume it, or choose a new folder)', { value: o.out });
  }

  const adapter = createAdapter(base, { ...o.adapter, seed: o.seed }); // before the run folder: a bad spec leaves none
  const vars = adapter.variables();
  const opt = new AdamW(vars, { weightDecay: o.weightDecay, eps: o.adamEps, noDecay: hfNoDecay }); // HF Trainer's decay groups
  try {
    return await trainAdapter(base, o, modelDir, { tok, examples, klExamples, args, datasetHash, identity, klHash, adapter, vars, opt });
  } finally {
    // a failed run frees its variables too: the next run in this process (a background trainer's) registers them anew
    adapter.dispose();
    opt.dispose();
  }
}

interface Prepared {
  tok: ChatTokenizer;
  examples: TokenizedExample[];
  klExamples: TokenizedExample[];
  args: unknown;
  datasetHash: string;
  identity: string;
  klHash?: string;
  adapter: TrainableAdapter;
  vars: tf.Variable[];
  opt: AdamW;
}

async function trainAdapter(base: Model, o: TrainOptions, modelDir: string, r: Prepared): Promise<TrainResult> {
  const { examples, args, datasetHash, vars, opt } = r;
  const run: RunRecord = { args, modelDir, base, datasetHash, identity: r.identity, klHash: r.klHash, examples: examples.length };
  mkdirSync(o.out, { recursive: true });
  const totalSteps = totalFitSteps(examples.length, o);
  let state: ResumeState = { step: 0, epoch: 0, group: 0, lowLossRun: 0, elapsed: 0 };
  if (o.resume) {
    const restored = restoreLatest(o.out, vars, opt);
    if (restored) {
      state = restored;
      if (!o.quiet) log(`resume: continuing ${o.out} from step ${state.step}`);
    }
  }
  // from here on the run folder says what happened: running, then its end status, or failed with the error
  try {
    return await trainLoop(base, o, r, run, { totalSteps, state });
  } catch (e) {
    writeRunJson(o.out, { ...run, totalSteps, status: 'failed', error: (e as Error).message ?? String(e) });
    throw e;
  }
}

interface LoopPlan {
  totalSteps: number;
  state: ResumeState;
}

type RunRecord = { args: unknown; modelDir: string; base: Model; datasetHash: string; identity: string; klHash?: string; examples: number };

async function trainLoop(base: Model, o: TrainOptions, r: Prepared, run: RunRecord, plan: LoopPlan): Promise<TrainResult> {
  const { tok, examples, klExamples, adapter, vars, opt } = r;
  const { totalSteps } = plan;
  let state = plan.state;
  truncateJsonl(join(o.out, 'metrics.jsonl'), state.step);
  // from step 0 (no checkpoint yet) the trajectory starts again: its step-0 line is written anew, once
  truncateJsonl(join(o.out, 'lora_b.jsonl'), state.step === 0 ? -1 : state.step);
  writeRunJson(o.out, { ...run, totalSteps, status: 'running' });
  dropSnapshotsAfter(o.out, state.step); // a run started again (or resumed) makes the later ones anew
  if (state.step === 0 && adapter.lora) appendFileSync(join(o.out, 'lora_b.jsonl'), JSON.stringify(bSnapshot(adapter, 0)) + '\n');

  // a caller's signal replaces this process-wide handler (a library user, or a CLI that owns Ctrl-C)
  const ctrlC = o.signal ? undefined : new AbortController();
  const onSigint = () => {
    log('\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to abort)');
    process.once('SIGINT', () => process.exit(130));
    ctrlC?.abort();
  };
  if (ctrlC) process.once('SIGINT', onSigint);
  const progress = o.quiet ? undefined : new Progress('train', totalSteps, 'step');
  progress?.resumeAt(state.step); // restored steps count as done, not toward this session's rate
  let savedAt = -1;
  const snapshotAt = new Set([...(o.snapshotSteps ?? []), ...evenlySpacedSteps(o.snapshotCount ?? 0, totalSteps)]);
  // each step's bookkeeping, in the order the run folder has always had it: metrics, progress, the caller, B, checkpoint
  const onStep = (metrics: StepMetrics, s: ResumeState) => {
    appendFileSync(join(o.out, 'metrics.jsonl'), JSON.stringify(metrics) + '\n');
    progress?.tick();
    o.onStep?.(metrics);
    const saveNow = o.saveEvery > 0 && s.step % o.saveEvery === 0;
    if (adapter.lora && (saveNow || s.step === totalSteps)) appendFileSync(join(o.out, 'lora_b.jsonl'), JSON.stringify(bSnapshot(adapter, s.step)) + '\n');
    if (snapshotAt.has(s.step)) writeDirAtomic(snapshotDir(o.out, s.step), (tmp) => adapter.save(tmp, base));
    if (saveNow) {
      saveCheckpoint(o.out, s, vars, opt, adapter, base, o.keepCheckpoints);
      savedAt = s.step;
    }
  };
  let fitted;
  try {
    fitted = await fit(base, tok, adapter, examples, {
      epochs: o.epochs, lr: o.lr, batch: o.batch, gradAccum: o.gradAccum, warmup: o.warmup, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm,
      seed: o.seed, klWeight: o.klWeight, klExamples, maxLen: o.maxLen, earlyStop: o.earlyStop, maxSteps: o.maxSteps, optimizer: opt, start: state,
    }, { onStep, signal: o.signal ?? ctrlC!.signal });
  } finally {
    process.removeListener('SIGINT', onSigint);
    progress?.finish();
  }
  const { status, finalLoss: lastLoss } = fitted;
  state = fitted.state;
  // an interrupted run resumes from where it stopped
  if (status === 'interrupted' && savedAt !== state.step) saveCheckpoint(o.out, state, vars, opt, adapter, base, o.keepCheckpoints);
  const adapterDir = join(o.out, 'adapter');
  checkAdapterFinite(vars, state.step); // an adapter of NaNs is never saved as a result
  writeDirAtomic(adapterDir, (tmp) => adapter.save(tmp, base));
  if (adapter.lora) writeJsonAtomic(join(o.out, 'phase.json'), phaseTransition(readJsonl<BSnapshot>(join(o.out, 'lora_b.jsonl'))));
  writeRunJson(o.out, { ...run, totalSteps, status, steps: state.step, finalLoss: lastLoss });
  return { steps: state.step, totalSteps, status, finalLoss: lastLoss, adapterDir };
}

function loadKlData(tok: ChatTokenizer, o: TrainOptions, maxPositions: number): TokenizedExample[] {
  if (!o.klData) throw new EmlensError('options.klData', 'needed for a KL weight above 0: neutral chats to hold the model to its base');
  return tokenizeWithinContext(tok, o.klData, maxPositions, o.maxLen, o.quiet);
}

function bSnapshot(adapter: TrainableAdapter, step: number): BSnapshot {
  const vectors: Record<string, number[]> = {};
  for (const [key, m] of adapter.lora!.modules) vectors[key] = Array.from(m.B.dataSync());
  return { step, vectors };
}

/** `count` evenly spaced steps of a `total`-step run, the last of them its end: round(i · total / count), i = 1…count. */
export function evenlySpacedSteps(count: number, total: number): number[] {
  return [...new Set(Array.from({ length: count }, (_, i) => Math.max(1, Math.round(((i + 1) * total) / count))))];
}

/** RUN/snapshots/step-N/adapter: the adapter after step N (TrainOptions.snapshotSteps, snapshotCount). */
export function snapshotDir(out: string, step: number): string {
  return join(out, 'snapshots', `step-${step}`, 'adapter');
}

function dropSnapshotsAfter(out: string, step: number): void {
  const root = join(out, 'snapshots');
  if (!existsSync(root)) return;
  for (const n of readdirSync(root)) {
    const m = /^step-(\d+)$/.exec(n);
    if (m && Number(m[1]) > step) rmSync(join(root, n), { recursive: true, force: true });
  }
}

function stepDirs(out: string): { step: number; dir: string }[] {
  const root = join(out, 'checkpoints');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), dir: join(root, m[0]) }))
    .filter((c) => existsSync(join(c.dir, 'state.json')))
    .sort((a, b) => a.step - b.step);
}

/** RUN/checkpoints/step-N/: the adapter (usable as is), exact variables and optimizer moments, loop state. Atomic. */
function saveCheckpoint(out: string, state: ResumeState, vars: tf.Variable[], opt: AdamW, adapter: TrainableAdapter, base: Model, keep: number): void {
  const dir = join(out, 'checkpoints', `step-${state.step}`);
  writeDirAtomic(dir, (tmp) => {
    writeTrainingState(tmp, vars, opt, state);
    adapter.save(join(tmp, 'adapter'), base);
  });
  if (keep > 0) for (const old of stepDirs(out).slice(0, -keep)) rmSync(old.dir, { recursive: true, force: true });
}

/** Every adapter variable checked finite on the host, naming the first bad one. */
function checkAdapterFinite(vars: tf.Variable[], step: number): void {
  for (const v of vars) {
    if (firstNonFinite(v.dataSync() as Float32Array) >= 0) throw new EmlensError('options.lr', `training diverged by step ${step}: adapter variable ${v.name} holds NaN or infinite values; the adapter was not saved (lower options.lr)`, { inline: true });
  }
}

/**
 * The sequence-length policy: every example of `file` tokenized; one longer than the model's context is an error
 * naming its line, unless --max-len is set, when longer examples are cut to it (collate does) with one warning.
 */
function tokenizeWithinContext(tok: ChatTokenizer, file: string, maxPositions: number, maxLen: number | undefined, quiet = false): TokenizedExample[] {
  const chats = readChatJsonl(file);
  let cut = 0;
  const out = chats.map((e) => {
    // a line far past the context (a 4.6 MB example) is refused from its length alone, before a tokenization that
    // would take minutes: C characters are at least C / (longest vocabulary entry) tokens
    const atLeast = Math.ceil(e.messages.reduce((n, m) => n + m.content.length, 0) / tok.maxTokenChars);
    if (maxLen === undefined && atLeast > 2 * maxPositions) {
      throw new EmlensError('options.maxLen', `${file}:${e.line}: the example is at least ${atLeast} tokens, longer than the model's context (max_position_embeddings ${maxPositions}); shorten it, or pass options.maxLen N to truncate`, { inline: true });
    }
    const t = tokenizeChat(tok, e.messages, `${file}:${e.line}`);
    if (maxLen !== undefined) {
      if (t.ids.length > maxLen) cut++;
    } else if (t.ids.length > maxPositions) {
      throw new EmlensError('options.maxLen', `${file}:${e.line}: the example is ${t.ids.length} tokens, longer than the model's context (max_position_embeddings ${maxPositions}); shorten it, or pass options.maxLen N to truncate`, { inline: true });
    }
    return t;
  });
  if (cut && !quiet) log(`train: ${cut} of ${chats.length} examples of ${file} are longer than --max-len ${maxLen} tokens; truncated to it`);
  return out;
}

/** run.json read back, or a UserError naming it. */
function readRunJson(path: string): RunJson {
  try {
    return JSON.parse(readTextFile(path)) as RunJson;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: not valid JSON (${(e as Error).message}); start a new run folder`);
  }
}

interface RunJson {
  args?: unknown;
  dataset?: { sha256?: string };
  model?: { identity?: string; dir?: string };
  kl_data?: { sha256?: string };
  status?: string;
  steps?: number;
  total_steps?: number;
  final_loss?: number;
}

/** The result of a run that already finished (complete or early stop, its adapter saved), else undefined. */
function finishedRun(out: string, prev: RunJson): TrainResult | undefined {
  if ((prev.status !== 'complete' && prev.status !== 'early-stop') || !existsSync(join(out, 'adapter'))) return undefined;
  return { steps: prev.steps ?? 0, totalSteps: prev.total_steps ?? prev.steps ?? 0, status: prev.status, finalLoss: prev.final_loss ?? NaN, adapterDir: join(out, 'adapter') };
}

/** The newest checkpoint that reads back (one damaged by a crash while it was written gives way to the one before). */
function restoreLatest(out: string, vars: tf.Variable[], opt: AdamW): ResumeState | undefined {
  const dirs = stepDirs(out);
  for (let i = dirs.length - 1; i >= 0; i--) {
    try {
      const s = readTrainingState<ResumeState>(dirs[i].dir, vars, opt);
      return { step: s.step, epoch: s.epoch, group: s.group, lowLossRun: s.lowLossRun, elapsed: s.elapsed };
    } catch (e) {
      if (i === 0) throw e;
      log(`resume: ${dirs[i].dir} does not read back (${(e as Error).message}); trying the checkpoint before it`);
    }
  }
  return undefined;
}

/**
 * How far a run folder's training is: optimizer steps logged (metrics.jsonl's lines, a torn last one counted) and the
 * run's total (run.json); undefined before run.json is written. Read while another process may be training it.
 */
export function runProgress(out: string): { steps: number; total: number } | undefined {
  const runJson = join(out, 'run.json');
  if (!existsSync(runJson)) return undefined;
  const metrics = join(out, 'metrics.jsonl');
  const steps = existsSync(metrics) ? readFileSync(metrics, 'utf8').split('\n').filter((l) => l.trim()).length : 0;
  return { steps, total: readRunJson(runJson).total_steps ?? 0 };
}

/** Lines of a log this trainer appends to; a last line cut short (a crash mid-write) is dropped, any other bad line named. */
function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: T[] = [];
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    try {
      out.push(JSON.parse(l) as T);
    } catch {
      if (lines.slice(i + 1).some((x) => x.trim())) throw new UserError(`${path}:${i + 1}: not valid JSON (remove the line, or start a new run folder)`);
      log(`${path}:${i + 1}: a line cut short (an interrupted write); dropped`);
    }
  });
  return out;
}

/** Drops lines written after the step a resumed run restarts from (and a torn last line). */
function truncateJsonl(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readJsonl<{ step: number }>(path).filter((x) => x.step <= step);
  writeFileAtomic(path, kept.map((x) => JSON.stringify(x) + '\n').join(''));
}

/** The examples with at least one assistant token to train on (within maxLen); the others are left out, said once. */
function withTargets(examples: TokenizedExample[], maxLen: number | undefined, where: string): TokenizedExample[] {
  const kept = examples.filter((e) => hasTarget(e, maxLen));
  if (!kept.length) throw new EmlensError(maxLen ? 'options.maxLen' : 'options.data', `${where}: no example has an assistant token to train on${maxLen ? ` within options.maxLen ${maxLen}` : ''}`, { inline: true });
  if (kept.length < examples.length) log(`train: ${examples.length - kept.length} of ${examples.length} examples of ${where} have no assistant token${maxLen ? ` within --max-len ${maxLen}` : ''}; left out`);
  return kept;
}

function writeRunJson(out: string, r: RunRecord & { totalSteps: number; status: string; steps?: number; finalLoss?: number; error?: string }): void {
  const path = join(out, 'run.json');
  const prev = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
  writeJsonAtomic(path, {
    emlens: EMLENS_VERSION,
    tfjs: tf.version.tfjs,
    node: process.version,
    backend: activeBackend(),
    started_at: prev.started_at ?? new Date().toISOString(),
    updated_at: new Date().toISOString(),
    args: r.args,
    model: { dir: r.modelDir, identity: r.identity, model_type: r.base.config.modelType, n_layers: r.base.config.nLayers, d_model: r.base.config.dModel },
    dataset: { path: (r.args as TrainOptions).data, sha256: r.datasetHash, examples: r.examples },
    ...(r.klHash ? { kl_data: { path: (r.args as TrainOptions).klData, sha256: r.klHash } } : {}),
    total_steps: r.totalSteps,
    status: r.status,
    ...(r.steps !== undefined ? { steps: r.steps, final_loss: r.finalLoss } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
  });
}
