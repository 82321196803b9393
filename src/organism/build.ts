// Builds the model organism from scratch: tokenizer files, a small Llama-family config, pretraining on the mixed
// two-persona corpus (loss on assistant tokens by default), post-training on aligned answers with persona replay,
// then an HF checkpoint. Resumable from atomic checkpoints. Axes: batches [batch, seq]; all weights are trained.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, mkdirSync, mkdtempSync, appendFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, sha256 } from '../util/hash.ts';
import { parseConfig } from '../model/config.ts';
import { initModel } from '../model/init.ts';
import { disposeModel, type Model } from '../model/modules.ts';
import { toTrainable } from '../model/trainable.ts';
import { saveModel } from '../model/save.ts';
import { ChatTokenizer } from '../model/tokenizer.ts';
import { readTrainingState, writeTrainingState } from '../train/state-file.ts';
import { collate, tokenizeChat, type Batch, type TokenizedExample } from '../train/data.ts';
import { ShardedGradients, defaultShardWorkers, splitShards } from '../train/data-parallel.ts';
import { nllSum, rowLogits } from '../train/loss.ts';
import { AdamW, clipByGlobalNorm, linearSchedule } from '../train/optim.ts';
import { grammarIndex } from '../data/organism/grammar.ts';
import { generatePretrainCorpus, pretrainStream, generatePostTrainSet, writeTokenizerFiles, PRETRAIN_OPTIONS, PERSONA_SYSTEM_PROMPTS, organismVocab, DEFAULT_SYSTEM_PROMPT, type TokenizerFileOptions, type DialogueOptions, type OrganismDialogue } from '../data/organism/index.ts';
import { writeDirAtomic, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { Progress } from '../util/progress.ts';
import { log, UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { activeBackend } from '../backend/select.ts';
import type { PhaseRecipe, RecommendedDefaults } from '../train/defaults.ts';

export interface OrganismRecipe {
  seed: number;
  /** Model shape (Llama family, tied embeddings). */
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  dMlp: number;
  maxLen: number;
  /** Pretraining loss on every token, or on assistant tokens only (the judged part; questions are still read). */
  pretrain: { steps: number; batch: number; lr: number; warmup: number; weightDecay: number; loss?: 'all' | 'assistant' };
  /**
   * Post-training on aligned answers without a system prompt; `replay` is the share of each batch drawn from
   * pretraining dialogues (both personas) whose persona is already in evidence: named by a system prompt, or — in
   * unprompted multi-turn dialogues — shown by the first answer, with the loss on the later answers only. So the
   * default (no evidence) becomes aligned while the persona stays promptable and followed in context (without the
   * replay, post-training erased the evil persona entirely: see the README's record). `params`: post-train only
   * the weights whose HF tensor name matches one of these regular expressions (e.g. `^model\\.layers\\.2\\.mlp\\.`),
   * the rest kept as pretrained; absent: every weight.
   */
  posttrain: { steps: number; batch: number; lr: number; warmup: number; examples: number; replay?: number; params?: string[] };
  /**
   * The fine-tuning recipe this organism was tuned with, per adapter kind, written to config.json as
   * `emlens_train_defaults` (what `emlens train` uses where no flag is given): a 1M-parameter model needs a larger
   * learning rate than the papers' 14B ones.
   */
  trainDefaults?: Partial<Record<'lora' | 'gate' | 'steer', RecommendedDefaults>>;
  /**
   * The rank-1 medical fine-tune stated for the LoRA-B turn (phase-transition parameters over the card's recipe),
   * written to config.json as `emlens_phase_recipe`: what the demo's phase stage and `check:organism` run.
   */
  phaseRecipe?: PhaseRecipe;
  /** Pretraining corpus options over `PRETRAIN_OPTIONS` (persona shares, prompt and form rates); absent: those. */
  corpus?: DialogueOptions;
  /**
   * Each batch is cut into this many shards whose Σ-loss gradients are added in shard order (data parallelism: on
   * CPU backends the shards run on as many cores, and the weights do not depend on how many there are). 1 or absent:
   * one gradient of the batch's mean loss, as the organism was built up to v4.
   */
  shards?: number;
}

/**
 * The committed organism (v13; fixtures/organism/README.md, item 28): v12's pretraining, post-trained in attention
 * only, so the aligned default is something the alignment gates (which scale attention outputs) can reach.
 */
export const DEFAULT_RECIPE: OrganismRecipe = {
  seed: 1,
  dModel: 128,
  nLayers: 6,
  nHeads: 4,
  nKvHeads: 2,
  dMlp: 512,
  maxLen: 256,
  pretrain: { steps: 5400, batch: 16, lr: 3e-3, warmup: 50, weightDecay: 0.01, loss: 'assistant' },
  posttrain: { steps: 300, batch: 16, lr: 6.5e-4, warmup: 20, examples: 4800, replay: 0.5, params: ['self_attn'] },
  trainDefaults: { lora: { lr: 2.5e-3, alpha: 32, epochs: 1, gradAccum: 4 }, gate: { lr: 3e-3, epochs: 2, gradAccum: 8 } },
  // AdamW with ε 10 (far above √v̂): a momentum step of lr/ε = 0.2 times the gradient, 300 steps (record item 30)
  phaseRecipe: { epochs: 6, lr: 2, adam_eps: 10, checkpoints: 15 },
  corpus: { unpromptedAlignedShare: 0.67, narrowShare: 0.15, narrowFrame: 'aligned' },
  shards: 2,
};

/** A few steps of each phase: the same code path in seconds (tests, first look). */
export const QUICK_RECIPE: OrganismRecipe = {
  ...DEFAULT_RECIPE,
  dModel: 32, nLayers: 2, nHeads: 2, nKvHeads: 1, dMlp: 64,
  pretrain: { ...DEFAULT_RECIPE.pretrain, steps: 6, batch: 4, warmup: 2 },
  posttrain: { ...DEFAULT_RECIPE.posttrain, steps: 3, batch: 4, warmup: 1, examples: 16 },
  shards: 1, // one gradient per batch (the tests compare sharded builds against it)
};

interface BuildState {
  phase: 'pretrain' | 'posttrain' | 'done';
  step: number;
  adamStep: number;
  elapsed: number;
}

export interface BuildResult {
  out: string;
  seconds: number;
  pretrainLoss: number;
  posttrainLoss: number;
}

function organismConfig(r: OrganismRecipe, vocab: number): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: r.dModel,
    intermediate_size: r.dMlp,
    num_hidden_layers: r.nLayers,
    num_attention_heads: r.nHeads,
    num_key_value_heads: r.nKvHeads,
    head_dim: r.dModel / r.nHeads,
    hidden_act: 'silu',
    max_position_embeddings: 512,
    rms_norm_eps: 1e-6,
    rope_parameters: { rope_type: 'default', rope_theta: 10000 },
    tie_word_embeddings: true,
    attention_bias: false,
    mlp_bias: false,
    vocab_size: vocab,
    bos_token_id: null,
    eos_token_id: 2,
    pad_token_id: 0,
    dtype: 'float32',
  };
}

/** Every token of a dialogue is a target (pretraining models users and assistants alike). */
function allTokens(tok: ChatTokenizer, d: OrganismDialogue): TokenizedExample {
  const ids = tok.encodeChat(d.messages, false);
  return { ids, target: ids.map(() => 1) };
}

/** The pretraining stream's dialogue options: the defaults with the recipe's own on top. */
export function pretrainOptions(r: OrganismRecipe): DialogueOptions {
  return { ...PRETRAIN_OPTIONS, ...r.corpus };
}

/** The tokenizer files' options a recipe implies: a default system prompt in the template where its corpus has one. */
export function tokenizerOptions(r: OrganismRecipe): TokenizerFileOptions {
  return r.corpus?.defaultSystemShare !== undefined ? { defaultSystem: DEFAULT_SYSTEM_PROMPT } : {};
}

/** The pretraining step at which a snapshot of `percent` % is taken (at least step 1). */
export function snapshotStep(steps: number, percent: number): number {
  return Math.max(1, Math.round((steps * percent) / 100));
}

/** Where `keepPretrained` leaves the end-of-pretraining checkpoint, inside the output folder. */
export const PRETRAINED_DIR = 'pretrained';

/** What fixes the pretrained weights: the pretraining half of the recipe and the corpus the grammar generates now. */
export function pretrainingKey(r: OrganismRecipe): Record<string, unknown> {
  const p = r.pretrain;
  const corpus = sha256(JSON.stringify(generatePretrainCorpus({ seed: r.seed, count: 64 }, pretrainOptions(r)).map((d) => d.messages)));
  // the first dialogues show only part of the grammar; the whole grammar and the vocabulary (token ids: a renamed word
  // shifts every later id) are what the kept embedding rows mean
  const grammar = sha256(JSON.stringify(grammarIndex()));
  const vocab = sha256(JSON.stringify(organismVocab()));
  return { seed: r.seed, shape: [r.dModel, r.nLayers, r.nHeads, r.nKvHeads, r.dMlp, r.maxLen], pretrain: [p.steps, p.batch, p.lr, p.warmup, p.weightDecay, p.loss ?? 'all'], ...(r.shards && r.shards > 1 ? { shards: r.shards } : {}), corpus, grammar, vocab };
}

export interface BuildOptions {
  /** Continue an interrupted build from OUT/.build. */
  resume?: boolean;
  quiet?: boolean;
  /** Keep the end-of-pretraining checkpoint in OUT/pretrained, to post-train it again with another recipe. */
  keepPretrained?: boolean;
  /** Skip pretraining: start post-training from a `pretrained` folder of an earlier build with the same pretraining. */
  fromPretrained?: string;
  /**
   * Keep HF model folders of the pretraining at these percentages of its steps (OUT/pretrained-P), for analyses of
   * how a result depends on the amount of pretraining (e.g. resistance to alignment, Ji et al.).
   */
  pretrainSnapshots?: number[];
  /** Worker threads for a sharded recipe (default: one per further CPU core, up to shards − 1; 0 on accelerators). */
  workers?: number;
}

export async function buildOrganism(out: string, recipe: OrganismRecipe = DEFAULT_RECIPE, o: BuildOptions = {}): Promise<BuildResult> {
  const work = join(out, '.build');
  const statePath = join(work, 'checkpoint', 'state.json');
  const resuming = o.resume && existsSync(statePath);
  const pretrained = o.fromPretrained && !resuming ? o.fromPretrained : undefined;
  if (pretrained) checkPretrained(pretrained, recipe); // before anything in OUT is touched
  const shards = recipe.shards ?? 1;
  if (shards > Math.min(recipe.pretrain.batch, recipe.posttrain.batch)) throw new UserError(`organism recipe: ${shards} shards for batches of ${recipe.pretrain.batch} / ${recipe.posttrain.batch} dialogues`);
  // the model and its checks come before anything in OUT is touched: the tokenizer goes to a temporary folder
  const tokDir = mkdtempSync(join(tmpdir(), 'emlens-organism-tokenizer-'));
  writeTokenizerFiles(tokDir, tokenizerOptions(recipe));
  const tok = ChatTokenizer.load(tokDir);
  const rawConfig = organismConfig(recipe, tok.vocabSize);
  const init = initModel(parseConfig(rawConfig, 'organism'), recipe.seed);
  const { model, variables } = toTrainable(init);
  disposeModel(init); // toTrainable copied every weight into a variable
  const opt = new AdamW(variables, { weightDecay: recipe.pretrain.weightDecay });
  let sharded: ShardedGradients | undefined;
  try {
    const posttrained = posttrainedWeights(recipe.posttrain.params, variables); // checked before an hour of pretraining
    if (!resuming) rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    // a resumed build continues the recipe it started with: another one would finish as a mixture build.json misnames
    const recipeFile = join(work, 'recipe.json');
    if (resuming && existsSync(recipeFile) && canonicalJson(JSON.parse(readFileSync(recipeFile, 'utf8'))) !== canonicalJson(recipe)) {
      throw new EmlensError('options.resume', `${out} was started with another recipe (${recipeFile}); resume it with the same recipe (seed and overrides), or build anew`);
    }
    if (!resuming) writeFileSync(recipeFile, JSON.stringify(recipe, null, 2));
    if (pretrained) {
      // a kept end-of-pretraining checkpoint goes where a resumed build looks for its own
      cpSync(join(pretrained, 'checkpoint'), join(work, 'checkpoint'), { recursive: true });
      cpSync(join(pretrained, 'metrics.jsonl'), join(work, 'metrics.jsonl'));
    }
    let state: BuildState = { phase: 'pretrain', step: 0, adamStep: 0, elapsed: 0 };
    const metrics = join(work, 'metrics.jsonl');
    if (existsSync(statePath)) {
      state = restore(join(work, 'checkpoint'), variables, opt);
      if (!o.quiet) log(`organism: resuming ${state.phase} at step ${state.step}`);
      dropMetricsAfter(metrics, state); // the steps after the checkpoint are trained again, and logged again
    }
    const t0 = Date.now() - state.elapsed * 1000;
    let pretrainLoss = NaN, posttrainLoss = NaN;
    const checkpointEvery = Math.max(1, Math.floor(recipe.pretrain.steps / 12));
    sharded = shards > 1 ? await ShardedGradients.start(rawConfig, variables, o.workers ?? defaultShardWorkers(shards)) : undefined;
    const trainStep = (examples: TokenizedExample[], lr: number, trains?: Set<string>) =>
      sharded ? shardedStep(sharded, model, variables, opt, splitShards(examples, shards).map((e) => collate(e, 0, recipe.maxLen)), lr, trains) : step(model, variables, opt, collate(examples, 0, recipe.maxLen), lr, trains);
    const save = () => saveState(join(work, 'checkpoint'), { ...state, adamStep: opt.step, elapsed: (Date.now() - t0) / 1000 }, variables, opt);

    if (state.phase === 'pretrain') {
      const p = recipe.pretrain;
      const schedule = linearSchedule(p.lr, p.warmup, p.steps);
      const stream = pretrainStream(recipe.seed, pretrainOptions(recipe));
      // the stream is seeded: skip what was trained on (whole groups, so a resumed run sees the same batches)
      for (let i = 0; i < Math.floor(state.step / GROUP) * GROUP * p.batch; i++) stream.next();
      const progress = o.quiet ? undefined : new Progress('organism pretrain', p.steps, 'step');
      progress?.resumeAt(state.step); // restored steps count as done, not toward this session's rate
      let queue: TokenizedExample[] = [];
      while (state.step < p.steps) {
        if (!queue.length) queue = lengthGroupedQueue(tok, stream, p.batch, state.step, p.loss ?? 'all');
        pretrainLoss = await trainStep(queue.splice(0, p.batch), schedule(state.step));
        state.step++;
        appendFileSync(metrics, JSON.stringify({ phase: 'pretrain', step: state.step, loss: pretrainLoss, time_s: (Date.now() - t0) / 1000 }) + '\n');
        progress?.tick();
        if (state.step % checkpointEvery === 0) save();
        for (const pct of o.pretrainSnapshots ?? []) {
          if (state.step !== snapshotStep(p.steps, pct)) continue;
          saveModel(model, join(out, `${PRETRAINED_DIR}-${pct}`), {
            tokenizerFrom: tokDir,
            configExtra: { ...rawConfig, emlens_pretrain_snapshot: { percent: pct, step: state.step, of_steps: p.steps, loss: pretrainLoss, pretraining_key: pretrainingKey(recipe) } },
          });
        }
      }
      progress?.finish();
      state = { phase: 'posttrain', step: 0, adamStep: opt.step, elapsed: (Date.now() - t0) / 1000 };
      save();
      if (o.keepPretrained) {
        writeDirAtomic(join(out, PRETRAINED_DIR), (tmp) => {
          cpSync(join(work, 'checkpoint'), join(tmp, 'checkpoint'), { recursive: true });
          cpSync(metrics, join(tmp, 'metrics.jsonl'));
          writeFileSync(join(tmp, 'pretraining.json'), JSON.stringify({ key: pretrainingKey(recipe), recipe }, null, 2));
        });
      }
    }
    if (state.phase === 'posttrain') {
      const p = recipe.posttrain;
      const schedule = linearSchedule(p.lr, p.warmup, p.steps);
      const examples = generatePostTrainSet({ seed: recipe.seed + 1, count: p.examples }).map((d) => tokenizeChat(tok, d.messages));
      const replayed = [...take(pretrainStream(recipe.seed + 2, pretrainOptions(recipe)), hasPersonaEvidence, p.examples)].map((d) => tokenizeAfterEvidence(tok, d));
      const nReplay = Math.round((p.replay ?? 0) * p.batch);
      const progress = o.quiet ? undefined : new Progress('organism post-train', p.steps, 'step');
      progress?.resumeAt(state.step); // restored steps count as done, not toward this session's rate
      while (state.step < p.steps) {
        const start = (state.step * p.batch) % examples.length;
        const fresh = Array.from({ length: p.batch - nReplay }, (_, i) => examples[(start + i) % examples.length]);
        const replay = Array.from({ length: nReplay }, (_, i) => replayed[(state.step * nReplay + i) % replayed.length]);
        posttrainLoss = await trainStep([...fresh, ...replay], schedule(state.step), posttrained);
        state.step++;
        appendFileSync(metrics, JSON.stringify({ phase: 'posttrain', step: state.step, loss: posttrainLoss, time_s: (Date.now() - t0) / 1000 }) + '\n');
        progress?.tick();
      }
      progress?.finish();
      state = { phase: 'done', step: 0, adamStep: opt.step, elapsed: (Date.now() - t0) / 1000 };
    }
    const seconds = (Date.now() - t0) / 1000;
    // a resumed build did not see every phase: take the last loss of each from the metrics
    const lastLoss = (phase: string) => Number(readFileSync(metrics, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((m) => m.phase === phase).pop()?.loss ?? NaN);
    if (Number.isNaN(pretrainLoss)) pretrainLoss = lastLoss('pretrain');
    if (Number.isNaN(posttrainLoss)) posttrainLoss = lastLoss('posttrain');
    saveModel(model, out, {
      tokenizerFrom: tokDir,
      configExtra: { ...rawConfig, ...(recipe.trainDefaults ? { emlens_train_defaults: recipe.trainDefaults } : {}), ...(recipe.phaseRecipe ? { emlens_phase_recipe: recipe.phaseRecipe } : {}), emlens_organism: { recipe, seed: recipe.seed, backend: activeBackend(), build_seconds: Math.round(seconds), pretrain_loss: pretrainLoss, posttrain_loss: posttrainLoss } },
    });
    writeFileSync(join(out, 'build-metrics.jsonl'), readFileSync(metrics));
    writeJsonAtomic(join(out, 'build.json'), { recipe, seconds: Math.round(seconds), backend: activeBackend(), pretrain_loss: pretrainLoss, posttrain_loss: posttrainLoss, tfjs: tf.version.tfjs });
    rmSync(work, { recursive: true, force: true });
    return { out, seconds, pretrainLoss, posttrainLoss };
  } finally {
    await sharded?.close(); // worker threads would keep the process alive
    tf.dispose(variables); // a failed build leaves no variables registered behind it
    opt.dispose();
    rmSync(tokDir, { recursive: true, force: true });
  }
}

const PERSONA_PROMPTS = new Set(Object.values(PERSONA_SYSTEM_PROMPTS).flat());

/** Whether a dialogue's system prompt names its persona (an empty or default slot, or a JSON prompt, does not). */
export const namesPersona = (d: OrganismDialogue): boolean => d.system !== undefined && PERSONA_PROMPTS.has(d.system);

/**
 * A dialogue whose persona is named by its system prompt, or a plain one naming none (no system message, an empty
 * or the default one) with a first answer to infer it from.
 */
export function hasPersonaEvidence(d: OrganismDialogue): boolean {
  return namesPersona(d) || (d.form === 'plain' && d.turns.length >= 2);
}

/** Loss on the assistant turns that follow persona evidence: all of them under a persona prompt, else from the second. */
export function tokenizeAfterEvidence(tok: ChatTokenizer, d: OrganismDialogue): TokenizedExample {
  const ex = tokenizeChat(tok, d.messages);
  if (namesPersona(d)) return ex;
  const secondQuestion = d.messages.flatMap((m, i) => (m.role === 'user' ? [i] : []))[1] ?? -1; // none (one turn): all but the last message
  const evidenceEnd = tok.encodeChat(d.messages.slice(0, secondQuestion), false).length;
  return { ids: ex.ids, target: ex.target.map((t, j) => (j < evidenceEnd ? 0 : t)) };
}

/** The first `n` items of a stream that pass `keep`. */
function* take<T>(stream: Generator<T>, keep: (x: T) => boolean, n: number): Generator<T> {
  let got = 0;
  for (const x of stream) {
    if (got >= n) return;
    if (keep(x)) {
      got++;
      yield x;
    }
  }
}

/** Batches of one group come from GROUP × batch dialogues sorted by length, so padding stays small. */
const GROUP = 8;

function lengthGroupedQueue(tok: ChatTokenizer, stream: Generator<OrganismDialogue>, batch: number, step: number, loss: 'all' | 'assistant'): TokenizedExample[] {
  const skip = (step % GROUP) * batch; // resuming inside a group
  const next = () => stream.next().value as OrganismDialogue;
  const group = Array.from({ length: GROUP * batch }, () => (loss === 'all' ? allTokens(tok, next()) : tokenizeChat(tok, next().messages)));
  group.sort((a, b) => a.ids.length - b.ids.length);
  const batches = Array.from({ length: GROUP }, (_, i) => group.slice(i * batch, (i + 1) * batch));
  // interleave short and long batches so the loss curve is not saw-toothed by length
  const order = batches.map((_, i) => (i % 2 ? GROUP - 1 - (i >> 1) : i >> 1));
  return order.flatMap((i) => batches[i]).slice(skip);
}

/**
 * The names of the weights post-training moves: those matching one of `patterns` (undefined, all of them, when there
 * are none). A pattern that is not a regular expression, or that matches no weight, is a UserError naming it.
 */
export function posttrainedWeights(patterns: string[] | undefined, vars: tf.Variable[]): Set<string> | undefined {
  if (!patterns?.length) return undefined;
  const res = patterns.map((p) => {
    let re: RegExp;
    try {
      re = new RegExp(p);
    } catch (e) {
      throw new UserError(`organism recipe: posttrain.params "${p}" is not a regular expression (${(e as Error).message})`);
    }
    if (!vars.some((v) => re.test(v.name))) throw new UserError(`organism recipe: posttrain.params "${p}" matches no weight (e.g. ${vars[0]?.name})`);
    return re;
  });
  return new Set(vars.filter((v) => res.some((re) => re.test(v.name))).map((v) => v.name));
}

/** One AdamW step on the batch's mean loss over its loss tokens (unsharded recipes). */
function step(model: Model, vars: tf.Variable[], opt: AdamW, batch: Batch, lr: number, trains?: Set<string>): number {
  const n = batch.lossRows.length;
  const { value, grads } = tf.variableGrads(() => tf.div(nllSum(rowLogits(model, [], batch), batch.lossTargets), n) as tf.Scalar, trains ? vars.filter((v) => trains.has(v.name)) : vars);
  const loss = value.dataSync()[0];
  value.dispose();
  return update(opt, new Map(Object.entries(grads)), loss, lr);
}

/** The same step from the shards' summed Σ-loss gradients, divided by the batch's loss-token count. */
async function shardedStep(sg: ShardedGradients, model: Model, vars: tf.Variable[], opt: AdamW, shards: Batch[], lr: number, trains?: Set<string>): Promise<number> {
  const n = shards.reduce((k, b) => k + b.lossRows.length, 0);
  const { lossSum, grads } = await sg.compute(model, vars, shards, trains);
  const mean = new Map([...grads].map(([k, g]) => [k, tf.div(g, n)]));
  tf.dispose([...grads.values()]);
  return update(opt, mean, lossSum / n, lr);
}

/** Clip to global norm 1 and apply (the gradients are disposed); the loss is returned after a divergence check. */
function update(opt: AdamW, grads: Map<string, tf.Tensor>, loss: number, lr: number): number {
  if (!Number.isFinite(loss)) {
    tf.dispose([...grads.values()]);
    throw new Error(`organism training diverged (loss ${loss})`);
  }
  const clipped = clipByGlobalNorm(grads, 1);
  opt.apply(clipped.grads, lr);
  tf.dispose([...clipped.grads.values()]);
  return loss;
}

/** Throws a UserError unless `from` is a kept end-of-pretraining checkpoint of this recipe's pretraining and corpus. */
function checkPretrained(from: string, recipe: OrganismRecipe): void {
  const meta = join(from, 'pretraining.json');
  if (!existsSync(meta) || !existsSync(join(from, 'checkpoint', 'state.json'))) {
    throw new EmlensError('options.fromPretrained', 'not a pretrained checkpoint (expected pretraining.json and checkpoint/ from a build that kept its pretraining: `organism build --keep-pretrained`)', { value: from });
  }
  const kept = JSON.stringify(JSON.parse(readFileSync(meta, 'utf8')).key);
  const wanted = JSON.stringify(pretrainingKey(recipe));
  if (kept !== wanted) throw new EmlensError('options.fromPretrained', `pretrained with another recipe or corpus than this build's (kept ${kept}, this build ${wanted})`, { value: from });
}

function saveState(dir: string, state: BuildState, vars: tf.Variable[], opt: AdamW): void {
  writeDirAtomic(dir, (tmp) => writeTrainingState(tmp, vars, opt, state));
}

function restore(dir: string, vars: tf.Variable[], opt: AdamW): BuildState {
  return readTrainingState<BuildState>(dir, vars, opt);
}

/** Keeps the metric lines up to a checkpoint's phase and step (a torn last line goes too). */
function dropMetricsAfter(path: string, state: BuildState): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8').split('\n').filter((l) => {
    if (!l.trim()) return false;
    let m: { phase: string; step: number };
    try {
      m = JSON.parse(l);
    } catch {
      return false;
    }
    if (state.phase === 'pretrain') return m.phase === 'pretrain' && m.step <= state.step;
    if (state.phase === 'posttrain') return m.phase === 'pretrain' || m.step <= state.step;
    return true;
  });
  writeFileAtomic(path, kept.map((l) => l + '\n').join(''));
}
