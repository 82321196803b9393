// The optimisation loop alone: in-memory examples → a trained adapter, with assistant-token loss, AdamW + warm-up/linear
// decay, accumulation, clipping and optional KL to the base; no files (the trainer keeps the run folder on top of it).
// Axes: batches [batch, seq]; loss rows [M, vocab]; every trained tensor is one of the adapter's variables.
import * as tf from '@tensorflow/tfjs';
import type { Model } from '../model/modules.ts';
import type { ChatTokenizer } from '../model/tokenizer.ts';
import { createAdapter, type AdapterKind, type AdapterSpec, type TrainableAdapter } from '../adapters/adapter.ts';
import { collate, epochBatches, tokenizeChat, type Batch, type TokenizedExample, type TrainMessage } from './data.ts';
import { AdamW, clipByGlobalNorm, hfNoDecay, linearSchedule } from './optim.ts';
import { blockStart, klMean, nllSum, rowLogits } from './loss.ts';
import { defaultTrainSpec } from './defaults.ts';
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { checkDeviceErrors } from '../backend/select.ts';

/** An example to train on: a chat (its assistant turns are the targets), or one already tokenized. */
export type FitExample = { messages: TrainMessage[] } | TokenizedExample;

/** What fit trains: an adapter made by the caller (the caller keeps it), a spec, or a kind with the model's recommended spec. */
export type FitAdapter = TrainableAdapter | AdapterSpec | AdapterKind;

/** The optimisation settings fit() and the CLI's train() share. */
export interface OptimSettings {
  epochs: number;
  /** Peak learning rate of the warm-up/linear-decay schedule. */
  lr: number;
  /** Examples per micro-batch. */
  batch: number;
  /** Micro-batches per optimizer step. */
  gradAccum: number;
  warmup: number;
  weightDecay: number;
  /**
   * AdamW's ε (torch's `eps`, HF's `adam_epsilon`; absent: 1e-8). Far above √v̂ (e.g. 10) the update is lr/ε · m̂, a
   * momentum step whose size follows the gradient's, as SGD's does, where AdamW's default normalises it away.
   */
  adamEps?: number;
  /** Clip the global gradient norm to this (0 = off). */
  maxGradNorm: number;
  /** Data order, the adapter's initialisation (when fit makes it) and LoRA dropout. */
  seed: number;
  /** Weight of KL(base ‖ tuned) on `klExamples` (0 = off). */
  klWeight: number;
  /** Truncate examples to this many tokens. */
  maxLen?: number;
  /** Stop when the loss stays under 0.01 for 5 steps (status 'early-stop'). */
  earlyStop: boolean;
  /** Stop after this many optimizer steps (status 'max-steps'; the schedule still spans every epoch). */
  maxSteps?: number;
}

export interface FitOptions extends OptimSettings {
  /** Neutral chats for the KL term (needed for a KL weight above 0). */
  klExamples?: FitExample[];
  /** Continue an optimisation: its optimizer over the adapter's variables (moments and step; the caller keeps it)… */
  optimizer?: AdamW;
  /** …and where its loop was (the state a step reported). */
  start?: FitState;
}

/** Where the loop is: optimizer steps done, the epoch and accumulation group next, the run of low-loss steps, seconds. */
export interface FitState {
  step: number;
  epoch: number;
  group: number;
  lowLossRun: number;
  elapsed: number;
}

/** One optimizer step's metrics (the line a run's metrics.jsonl gets). */
export interface StepMetrics {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens_per_s: number;
  target_tokens: number;
  kl?: number;
  lora_a_norm?: number;
  lora_b_norm?: number;
  time_s: number;
}

export interface FitCallbacks {
  /** Called after each optimizer step with its metrics and the loop's state after it. */
  onStep?: (m: StepMetrics, state: FitState) => void;
  /** Aborting stops after the current step (status 'interrupted'). */
  signal?: AbortSignal;
}

export type FitStatus = 'complete' | 'early-stop' | 'interrupted' | 'max-steps';

export interface FitResult {
  /** The trained adapter (one fit made from a spec or kind is the caller's to dispose). */
  adapter: TrainableAdapter;
  status: FitStatus;
  steps: number;
  totalSteps: number;
  finalLoss: number;
  /** The loop's state at the end (with the optimizer, what a later fit continues from). */
  state: FitState;
}

/**
 * Fine-tunes an adapter of `base` on in-memory examples: the trainer's optimisation loop, step for step, without its
 * run folder (no file is read or written, nothing is logged). Options not given are the model's recommended settings.
 */
export async function fit(base: Model, tok: ChatTokenizer, adapter: FitAdapter, examples: FitExample[], options: Partial<FitOptions> = {}, cb: FitCallbacks = {}): Promise<FitResult> {
  const given = typeof adapter === 'object' && 'variables' in adapter ? adapter : undefined;
  const kind = given ? given.kind : typeof adapter === 'string' ? adapter : adapter.kind;
  const spec = defaultTrainSpec(base, '', kind);
  const o: FitOptions = {
    epochs: spec.epochs, lr: spec.lr, batch: spec.batch, gradAccum: spec.gradAccum, warmup: spec.warmup, weightDecay: spec.weightDecay,
    maxGradNorm: spec.maxGradNorm, seed: spec.seed, klWeight: spec.klWeight, earlyStop: spec.earlyStop, ...options,
  };
  checkMaxLen(o.maxLen, base.config.maxPositions);
  const train = fitExamples(tok, examples, 'examples', o.maxLen, base.config.maxPositions);
  if (!train.length) throw new EmlensError('examples', `no example has an assistant token to train on${o.maxLen ? ` within options.maxLen ${o.maxLen}` : ''}`);
  if (o.klWeight > 0 && !o.klExamples?.length) throw new EmlensError('options.klExamples', 'needed for a KL weight above 0: neutral chats to hold the model to its base');
  const kl = o.klWeight > 0 ? fitExamples(tok, o.klExamples!, 'options.klExamples', o.maxLen, base.config.maxPositions, false) : [];
  // an adapter fit makes is freed if fit fails; one the caller gave is the caller's
  const made = given ?? createAdapter(base, { ...(typeof adapter === 'string' ? spec.adapter : (adapter as AdapterSpec)), seed: o.seed });
  const opt = o.optimizer ?? new AdamW(made.variables(), { weightDecay: o.weightDecay, eps: o.adamEps, noDecay: hfNoDecay }); // HF Trainer's decay groups
  try {
    return { adapter: made, ...(await fitLoop(base, made, opt, train, kl, o, cb)) };
  } catch (e) {
    if (!given) made.dispose();
    throw e;
  } finally {
    if (!o.optimizer) opt.dispose();
  }
}

/** maxLen against the model's context (the trainer checks it before it reads its data). */
export function checkMaxLen(maxLen: number | undefined, maxPositions: number): void {
  if (maxLen !== undefined && maxLen > maxPositions) throw new EmlensError('options.maxLen', `longer than the model's context (max_position_embeddings ${maxPositions})`, { value: maxLen, exitCode: 2 });
}

/** Chats tokenized (a chat longer than the context without maxLen is an error naming it); with `targets`, those with nothing to train on left out. */
function fitExamples(tok: ChatTokenizer, xs: FitExample[], where: string, maxLen: number | undefined, maxPositions: number, targets = true): TokenizedExample[] {
  if (!Array.isArray(xs) || !xs.length) throw new EmlensError(where, 'expected at least one { messages } example');
  const out = xs.map((x, i) => {
    if (x && 'ids' in x && 'target' in x) return x;
    if (!x || !Array.isArray((x as { messages?: unknown }).messages)) throw new EmlensError(`${where}[${i}]`, 'expected { messages: [{ role, content }, …] } or a tokenized { ids, target }');
    const t = tokenizeChat(tok, (x as { messages: TrainMessage[] }).messages, `${where}[${i}]`);
    if (maxLen === undefined && t.ids.length > maxPositions) throw new EmlensError(`${where}[${i}]`, `${t.ids.length} tokens, longer than the model's context (max_position_embeddings ${maxPositions}); shorten it, or set options.maxLen to truncate`);
    return t;
  });
  return targets ? out.filter((e) => hasTarget(e, maxLen)) : out;
}

/** Whether an example has at least one assistant token to train on within maxLen (collate's loss rows: position p predicts token p). */
export function hasTarget(e: TokenizedExample, maxLen: number | undefined): boolean {
  const n = maxLen ? Math.min(e.ids.length, maxLen) : e.ids.length;
  for (let p = 1; p < n; p++) if (e.target[p]) return true;
  return false;
}

/** Optimizer steps in a run of `examples` examples. */
export function totalFitSteps(examples: number, o: Pick<FitOptions, 'batch' | 'gradAccum' | 'epochs'>): number {
  return Math.ceil(Math.ceil(examples / o.batch) / o.gradAccum) * o.epochs;
}

async function fitLoop(base: Model, adapter: TrainableAdapter, opt: AdamW, examples: TokenizedExample[], klExamples: TokenizedExample[], o: FitOptions, cb: FitCallbacks): Promise<Omit<FitResult, 'adapter'>> {
  const padId = base.config.padTokenId ?? 0;
  const vars = adapter.variables();
  const lengths = examples.map((e) => e.ids.length);
  const groupsPerEpoch = Math.ceil(Math.ceil(examples.length / o.batch) / o.gradAccum);
  const totalSteps = groupsPerEpoch * o.epochs;
  const schedule = linearSchedule(o.lr, o.warmup, totalSteps);
  let state: FitState = o.start ?? { step: 0, epoch: 0, group: 0, lowLossRun: 0, elapsed: 0 };
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
  };
  if (cb.signal) {
    if (cb.signal.aborted) interrupted = true;
    cb.signal.addEventListener('abort', onAbort, { once: true });
  }
  let status: FitStatus = 'complete';
  let lastLoss = NaN;
  let klCursor = state.step;
  const t0 = Date.now() - state.elapsed * 1000;
  try {
    outer: for (let epoch = state.epoch; epoch < o.epochs; epoch++) {
      const batches = epochBatches(lengths, o.batch, o.seed, epoch); // [group · gradAccum + micro] → example indices
      for (let group = epoch === state.epoch ? state.group : 0; group < groupsPerEpoch; group++) {
        const micro = batches.slice(group * o.gradAccum, (group + 1) * o.gradAccum).map((idx) => collate(idx.map((i) => examples[i]), padId, o.maxLen)); // each [batch, seq]
        const klBatch = klExamples.length ? collate(pickCyclic(klExamples, o.batch, klCursor++), padId, o.maxLen) : undefined;
        const tStep = Date.now();
        const m = fitStep(base, adapter, vars, opt, micro, klBatch, o, state.step, schedule(state.step));
        checkDeviceErrors();
        // a GPU validation error drops its work silently: stop rather than train on it
        if (!variablesFinite(vars)) throw new EmlensError('options.lr', `training diverged at step ${state.step + 1}: the adapter's weights became NaN or infinite (options.lr ${o.lr} is too large?); nothing was saved for this step`, { inline: true });
        state = { step: state.step + 1, epoch, group: group + 1, lowLossRun: m.loss < 0.01 ? state.lowLossRun + 1 : 0, elapsed: (Date.now() - t0) / 1000 };
        if (state.group >= groupsPerEpoch) state = { ...state, epoch: epoch + 1, group: 0 };
        lastLoss = m.loss;
        const metrics: StepMetrics = { step: state.step, epoch, ...m, tokens_per_s: Math.round(micro.reduce((s, b) => s + b.tokens, 0) / ((Date.now() - tStep) / 1000)), time_s: Number(state.elapsed.toFixed(3)), ...adapterNorms(adapter) };
        cb.onStep?.(metrics, state);
        if (o.earlyStop && state.lowLossRun >= 5) {
          status = 'early-stop';
          break outer;
        }
        if (interrupted) {
          status = 'interrupted';
          break outer;
        }
        if (o.maxSteps !== undefined && state.step >= o.maxSteps) {
          status = 'max-steps';
          break outer;
        }
        // a step is synchronous work: give signals (an abort, Ctrl-C) and a parent's IPC (a background trainer) their turn
        await new Promise((ok) => setImmediate(ok));
      }
    }
  } finally {
    cb.signal?.removeEventListener('abort', onAbort);
  }
  return { status, steps: state.step, totalSteps, finalLoss: lastLoss, state };
}

function pickCyclic<T>(xs: T[], n: number, cursor: number): T[] {
  return Array.from({ length: Math.min(n, xs.length) }, (_, i) => xs[(cursor * n + i) % xs.length]);
}

/** One optimizer step over the micro-batches of an accumulation window. */
function fitStep(base: Model, adapter: TrainableAdapter, vars: tf.Variable[], opt: AdamW, micro: Batch[], klBatch: Batch | undefined, o: FitOptions, step: number, lr: number): { loss: number; lr: number; grad_norm: number; target_tokens: number; kl?: number } {
  const targets = micro.reduce((s, b) => s + b.lossRows.length, 0);
  const acc = new Map<string, tf.Tensor>(); // variable name → accumulated gradient, its shape
  let lossSum = 0;
  let kl: number | undefined;
  const baseKl = klBatch ? tf.tidy(() => rowLogits(base, [], klBatch)) : undefined; // [M, vocab]
  const rate = adapter.lora?.config.loraDropout ?? 0; // the rate the adapter was made with (LoRA's only)
  const first = adapter.firstLayer();
  micro.forEach((batch, mi) => {
    if (!batch.lossRows.length) return;
    let calls = 0;
    const dropout = { rate, nextSeed: () => ((o.seed * 1_000_003 + step * 7919 + mi * 131 + calls++) >>> 0) };
    const { model, hooks } = adapter.attach(base, dropout);
    // the blocks under the adapter's lowest run before the tape opens (the same values; see blockStart)
    const below = blockStart(model, hooks, batch, first);
    const klBelow = mi === 0 && klBatch ? blockStart(model, hooks, klBatch, first) : undefined;
    let klValue: tf.Scalar | undefined;
    let taped: ReturnType<typeof tf.variableGrads>;
    try {
      taped = tf.variableGrads(() => {
        const nll = tf.div(nllSum(rowLogits(model, hooks, batch, below), batch.lossTargets), targets) as tf.Scalar;
        if (mi > 0 || !baseKl || !klBatch) return nll;
        klValue = tf.keep(klMean(baseKl, rowLogits(model, hooks, klBatch, klBelow)));
        return tf.add(nll, tf.mul(klValue, o.klWeight)) as tf.Scalar;
      }, vars);
    } finally {
      tf.dispose([below?.x, klBelow?.x]);
    }
    const { value, grads } = taped;
    const v = value.dataSync()[0];
    if (!Number.isFinite(v)) {
      tf.dispose([value, klValue, ...Object.values(grads), ...acc.values(), baseKl]);
      throw new EmlensError('options.lr', `training diverged at step ${step + 1}: loss is ${v} (options.lr ${o.lr} is too large?)`, { inline: true });
    }
    if (klValue) {
      kl = klValue.dataSync()[0];
      lossSum += v - kl * o.klWeight;
      klValue.dispose();
    } else lossSum += v;
    value.dispose();
    for (const [k, g] of Object.entries(grads)) {
      const prev = acc.get(k);
      acc.set(k, prev ? tf.tidy(() => tf.add(prev, g)) : g);
      if (prev) {
        prev.dispose();
        g.dispose();
      }
    }
  });
  baseKl?.dispose();
  const { grads, norm } = clipByGlobalNorm(acc, o.maxGradNorm);
  opt.apply(grads, lr);
  tf.dispose([...grads.values()]);
  return { loss: lossSum, lr, grad_norm: norm, target_tokens: targets, ...(kl !== undefined ? { kl } : {}) };
}

function adapterNorms(adapter: TrainableAdapter): Partial<StepMetrics> {
  if (!adapter.lora) return {};
  const mods = [...adapter.lora.modules.values()];
  const total = (ts: tf.Tensor[]) => Math.sqrt(tf.tidy(() => tf.addN(ts.map((t) => tf.sum(tf.square(t)))).dataSync()[0]));
  return { lora_a_norm: total(mods.map((m) => m.A)), lora_b_norm: total(mods.map((m) => m.B)) };
}

/** Whether every variable is finite: one scalar read back per step (a sum of |x| is NaN or ∞ as soon as one value is). */
function variablesFinite(vars: tf.Variable[]): boolean {
  const total = tf.tidy(() => tf.addN(vars.map((v) => tf.sum(tf.abs(v)))));
  const x = total.dataSync()[0];
  total.dispose();
  return Number.isFinite(x);
}
