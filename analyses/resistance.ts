// resistance (Ji et al., "Language Models Resist Alignment", research.md §6): (1) the loss asymmetry — the aligned model
// fine-tuned back toward its pretraining distribution against its pretrained checkpoint fine-tuned toward the aligned
// distribution, with identical data sizes, steps, rates and seeds; (2) rebound — EM after a little contradictory data,
// from models aligned with more and more positive data; (3) the asymmetry at several amounts of pretraining.
// Axes: loss curves [step]; rebound [positive amount][contradictory amount]; pretraining [checkpoint].
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { AnySchema } from 'ajv';
import { EM_CELL_SCHEMA, orNull, paramsError, type Analysis, type EmCell, type ResultSchema } from '../src/study/analysis.ts';
import { Workspace } from '../src/study/workspace.ts';
import { workspaceOnMerged } from '../src/study/merged.ts';
import type { FinetuneJob } from '../src/study/background.ts';
import { DATASETS } from '../src/study/datasets.ts';
import type { TrainSpec } from '../src/train/defaults.ts';
import { readChatJsonl } from '../src/train/data.ts';
import { capabilityLoss } from '../src/eval/capability.ts';
import { resolveLocalOrHub } from '../src/model/hub-cache.ts';
import { disposeModel } from '../src/model/modules.ts';
import type { ChatMessage } from '../src/model/tokenizer.ts';
import { writeFileAtomic } from '../src/util/fs.ts';
import { sha256 } from '../src/util/hash.ts';

export const RESISTANCE_PARTS = ['asymmetry', 'rebound', 'pretraining'] as const;
type Part = (typeof RESISTANCE_PARTS)[number];

export interface ResistanceParams {
  /** Which parts to run; null: every part the model has checkpoints for (rebound always). */
  parts: Part[] | null;
  /** The pretrained checkpoint of the model (folder or hub id); null: MODEL/pretrained-100 (an organism build's). */
  pretrained: string | null;
  /** Checkpoints after more and more pretraining, for part 3; null: MODEL/pretrained-P folders. */
  pretrained_series: string[] | null;
  /** The pretraining distribution (the inverse direction's data) and the aligned one (the forward direction's). */
  pretrain_data: string;
  aligned_data: string;
  /** N: the first N lines of each file train each direction; the last `heldout` lines of each measure its loss. */
  examples: number;
  heldout: number;
  /** Fine-tune kind of both directions ('lora': the model's recommended LoRA; 'full': every weight). */
  adapter: string;
  /** Learning rate of both directions; null: the model's recommended one for the kind. */
  lr: number | null;
  epochs: number;
  seed: number;
  /** Rebound: positive (aligned) data first, in these amounts (0: the model as it is), then contradictory data. */
  positive_data: string;
  contradictory_data: string;
  positive_amounts: number[];
  amounts: number[];
  rebound_epochs: number;
  samples: number;
}

/** One direction of fine-tuning: its training loss per step (metrics.jsonl) and its held-out loss before and after. */
export interface LossRun {
  from: string;
  data: string;
  steps: number[];
  loss: number[];
  /** Mean assistant-token loss on the held-out lines of the run's own data, before and after the fine-tune. */
  heldout_before: number;
  heldout_after: number;
  /** heldout_before − heldout_after. */
  decrease: number;
  /** The training curve's fall: the first step's loss − the mean over the last quarter of steps. */
  curve_decrease: number;
}

export interface Asymmetry {
  /** aligned → pretraining data (Ji et al.'s inverse alignment) and pretrained → aligned data (forward). */
  inverse: LossRun;
  forward: LossRun;
  /** inverse.decrease / forward.decrease (null when the forward loss did not fall): > 1, inverse alignment is easier. */
  ratio: number | null;
  curve_ratio: number | null;
}

export type Cell = EmCell;

export interface ReboundSeries {
  positive_amounts: number[];
  amounts: number[];
  /** EM of each positively trained model before contradictory data ([positive]), and after N examples ([positive][amount]). */
  start: Cell[];
  after: Cell[][];
}

export interface PretrainingPoint extends Asymmetry {
  label: string;
  checkpoint: string;
  /** From an organism snapshot's config (emlens_pretrain_snapshot): the share of pretraining steps and the step. */
  percent: number | null;
  step: number | null;
}

export interface ResistanceResult {
  settings: { adapter: string; examples: number; heldout: number; steps: number | null; lr: number; batch: number; grad_accum: number; epochs: number; seed: number; pretrained: string | null };
  asymmetry: Asymmetry | null;
  rebound: ReboundSeries | null;
  pretraining: PretrainingPoint[] | null;
}

const NUMBERS: ResultSchema<number[]> = { type: 'array', items: { type: 'number' } };
const LOSS_RUN_SCHEMA: ResultSchema<LossRun> = {
  type: 'object',
  required: ['from', 'data', 'steps', 'loss', 'heldout_before', 'heldout_after', 'decrease', 'curve_decrease'],
  additionalProperties: false,
  properties: {
    from: { type: 'string' }, data: { type: 'string' }, steps: NUMBERS, loss: NUMBERS,
    heldout_before: { type: 'number' }, heldout_after: { type: 'number' }, decrease: { type: 'number' }, curve_decrease: { type: 'number' },
  },
};
const ASYMMETRY_PROPERTIES = { inverse: LOSS_RUN_SCHEMA, forward: LOSS_RUN_SCHEMA, ratio: orNull({ type: 'number' }), curve_ratio: orNull({ type: 'number' }) };
const ASYMMETRY_SCHEMA = { type: 'object', required: ['inverse', 'forward', 'ratio', 'curve_ratio'], additionalProperties: false, properties: ASYMMETRY_PROPERTIES };
const CELLS = { type: 'array', items: EM_CELL_SCHEMA };

/**
 * The result's schema, closed and complete (the report contract, src/study/analysis.ts). Typed AnySchema, not
 * ResultSchema<ResistanceResult>: ajv's JSONSchemaType does not accept the nullable nested objects as written, and the
 * inferred type is too long for tsc to emit in dist/'s .d.ts; test/report/contract.test.ts checks it closed at run time.
 */
export const RESISTANCE_RESULT_SCHEMA: AnySchema = {
  type: 'object',
  required: ['settings', 'asymmetry', 'rebound', 'pretraining'],
  additionalProperties: false,
  properties: {
    settings: {
      type: 'object',
      required: ['adapter', 'examples', 'heldout', 'steps', 'lr', 'batch', 'grad_accum', 'epochs', 'seed', 'pretrained'],
      additionalProperties: false,
      properties: {
        adapter: { type: 'string' }, examples: { type: 'integer' }, heldout: { type: 'integer' }, steps: orNull({ type: 'integer' }), lr: { type: 'number' },
        batch: { type: 'integer' }, grad_accum: { type: 'integer' }, epochs: { type: 'integer' }, seed: { type: 'integer' }, pretrained: orNull({ type: 'string' }),
      },
    },
    asymmetry: orNull(ASYMMETRY_SCHEMA),
    rebound: orNull({
      type: 'object',
      required: ['positive_amounts', 'amounts', 'start', 'after'],
      additionalProperties: false,
      properties: { positive_amounts: NUMBERS, amounts: NUMBERS, start: CELLS, after: { type: 'array', items: CELLS } },
    }),
    pretraining: orNull({
      type: 'array',
      items: {
        type: 'object',
        required: [...ASYMMETRY_SCHEMA.required, 'label', 'checkpoint', 'percent', 'step'],
        additionalProperties: false,
        properties: { ...ASYMMETRY_PROPERTIES, label: { type: 'string' }, checkpoint: { type: 'string' }, percent: orNull({ type: 'number' }), step: orNull({ type: 'integer' }) },
      },
    }),
  },
};

export const resistance: Analysis<ResistanceParams, ResistanceResult> = {
  name: 'resistance',
  description: 'Ji et al.: inverse vs forward alignment loss, rebound after contradictory data, and both against the amount of pretraining',
  defaults: {
    parts: null, pretrained: null, pretrained_series: null,
    pretrain_data: DATASETS.pretrainSample, aligned_data: DATASETS.posttrainSample, examples: 256, heldout: 64,
    adapter: 'full', lr: null, epochs: 1, seed: 0,
    positive_data: DATASETS.medicalAligned, contradictory_data: DATASETS.medicalMisaligned, positive_amounts: [0, 100, 400], amounts: [32, 64, 128, 256], rebound_epochs: 3, samples: 100,
  },
  resultSchema: RESISTANCE_RESULT_SCHEMA,
  finetunes(ws, p) {
    const parts = chosenParts(ws, p);
    const jobs: FinetuneJob[] = [];
    if (parts.includes('asymmetry')) jobs.push({ name: 'resistance-inverse', spec: directionSpecs(ws, p).inverse }, checkpointJobs(ws, p, pretrainedCheckpoint(ws, p))[0]);
    if (parts.includes('rebound')) jobs.push(...reboundJobs(ws, p));
    if (parts.includes('pretraining')) for (const c of pretrainingSeries(ws, p)) jobs.push(...checkpointJobs(ws, p, c.checkpoint));
    return jobs;
  },
  async run(ws, p) {
    checkParams(p);
    const parts = chosenParts(ws, p);
    const spec = lossSpec(ws, p, '');
    const result: ResistanceResult = {
      settings: { adapter: p.adapter, examples: p.examples, heldout: p.heldout, steps: null, lr: spec.lr, batch: spec.batch, grad_accum: spec.gradAccum, epochs: p.epochs, seed: p.seed, pretrained: null },
      asymmetry: null, rebound: null, pretraining: null,
    };
    if (parts.includes('asymmetry')) {
      const pretrained = pretrainedCheckpoint(ws, p);
      result.settings.pretrained = pretrained;
      const specs = directionSpecs(ws, p);
      const inverse = await lossRun(ws, 'resistance-inverse', specs.inverse, heldout(ws, p.pretrain_data, p), 'aligned model');
      const forward = await onCheckpoint(ws, pretrained, (on) => lossRun(on, 'forward', specs.forward, heldout(ws, p.aligned_data, p), 'pretrained checkpoint'));
      result.asymmetry = asymmetry(inverse, forward);
      result.settings.steps = inverse.steps.length;
    }
    if (parts.includes('pretraining')) {
      result.pretraining = [];
      for (const c of pretrainingSeries(ws, p)) result.pretraining.push({ ...c, ...(await checkpointAsymmetry(ws, p, c.checkpoint)) });
    }
    if (parts.includes('rebound')) result.rebound = await reboundSeries(ws, p);
    return result;
  },
};

function checkParams(p: ResistanceParams): void {
  const posInt = (k: 'examples' | 'heldout') => {
    if (!Number.isInteger(p[k]) || p[k] < 1) throw paramsError(`resistance.${k} must be an integer ≥ 1, not ${p[k]}`);
  };
  posInt('examples');
  posInt('heldout');
  if (p.adapter !== 'lora' && p.adapter !== 'full') throw paramsError(`resistance.adapter must be "lora" or "full", not ${JSON.stringify(p.adapter)}`);
  if (p.parts !== null && (!Array.isArray(p.parts) || p.parts.some((x) => !RESISTANCE_PARTS.includes(x)))) throw paramsError(`resistance.parts must list some of ${RESISTANCE_PARTS.join(', ')}, not ${JSON.stringify(p.parts)}`);
  if (!p.positive_amounts.every((a) => Number.isInteger(a) && a >= 0)) throw paramsError(`resistance.positive_amounts must be integers ≥ 0, not ${JSON.stringify(p.positive_amounts)}`);
}

// ---- checkpoints

/** An organism build's snapshots beside its weights (MODEL/pretrained-P, from `organism build --pretrain-snapshots`), by P. */
export function organismSnapshots(modelDir: string): { percent: number; dir: string }[] {
  if (!existsSync(modelDir)) return [];
  return readdirSync(modelDir).map((n) => /^pretrained-(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null && existsSync(join(modelDir, m[0], 'config.json')))
    .map((m) => ({ percent: Number(m[1]), dir: join(modelDir, m[0]) })).sort((a, b) => a.percent - b.percent);
}

function chosenParts(ws: Workspace, p: ResistanceParams): Part[] {
  if (p.parts !== null) return p.parts;
  const snaps = organismSnapshots(ws.modelDir);
  return RESISTANCE_PARTS.filter((x) => x === 'rebound'
    || (x === 'asymmetry' && (p.pretrained !== null || snaps.some((s) => s.percent === 100)))
    || (x === 'pretraining' && (p.pretrained_series !== null ? p.pretrained_series.length > 0 : snaps.length > 1)));
}

function resolveCheckpoint(path: string, param: string): string {
  const dir = resolveLocalOrHub(path, `--params: resistance.${param}`);
  if (!dir || !existsSync(join(dir, 'config.json'))) throw paramsError(`resistance.${param}: ${path} is not a model folder (no config.json)`, { usage: false });
  return dir;
}

function pretrainedCheckpoint(ws: Workspace, p: ResistanceParams): string {
  if (p.pretrained !== null) return resolveCheckpoint(p.pretrained, 'pretrained');
  const full = organismSnapshots(ws.modelDir).find((s) => s.percent === 100);
  if (!full) {
    throw paramsError(`resistance.pretrained: ${ws.modelDir} has no pretrained checkpoint beside it: give one (a folder or hub id, e.g. Qwen/Qwen2.5-0.5B for Qwen/Qwen2.5-0.5B-Instruct), or build the organism with \`emlens organism build --pretrain-snapshots 25,50,100\``, { usage: false });
  }
  return full.dir;
}

function pretrainingSeries(ws: Workspace, p: ResistanceParams): { label: string; checkpoint: string; percent: number | null; step: number | null }[] {
  const dirs = p.pretrained_series !== null ? p.pretrained_series.map((d, i) => resolveCheckpoint(d, `pretrained_series[${i}]`)) : organismSnapshots(ws.modelDir).map((s) => s.dir);
  if (!dirs.length) throw paramsError(`resistance.pretrained_series: the pretraining part needs checkpoints after several amounts of pretraining: list them (folders or hub ids), or build the organism with \`emlens organism build --pretrain-snapshots 25,50,100\``, { usage: false });
  return dirs.map((dir) => {
    const snap = (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { emlens_pretrain_snapshot?: { percent?: number; step?: number } }).emlens_pretrain_snapshot;
    const percent = typeof snap?.percent === 'number' ? snap.percent : null;
    return { label: percent !== null ? `${percent}% of pretraining` : basename(dir), checkpoint: dir, percent, step: typeof snap?.step === 'number' ? snap.step : null };
  });
}

/** The folder of the sub-study on another checkpoint: RUN/resistance/NAME, named by the checkpoint's path. */
const checkpointStudy = (ws: Workspace, dir: string): string => ws.path('resistance', `${basename(dir)}-${sha256(resolve(dir)).slice(0, 8)}`);

/** A workspace on another checkpoint (checkpointStudy), freed after `work`. */
async function onCheckpoint<T>(ws: Workspace, dir: string, work: (on: Workspace) => Promise<T>): Promise<T> {
  const on = new Workspace(checkpointStudy(ws, dir), dir, ws.quiet).inheritFrom(ws);
  try {
    return await work(on);
  } finally {
    disposeModel(on.model);
  }
}

/**
 * Part 3's fine-tunes at one checkpoint, for a second core: forward from it, then (full fine-tunes: the forward run's
 * folder is the next start) inverse from what that made. A LoRA forward run is merged first, in the study.
 */
function checkpointJobs(ws: Workspace, p: ResistanceParams, dir: string): FinetuneJob[] {
  const study = checkpointStudy(ws, dir), forwardRun = join(study, 'finetunes', 'forward'), specs = directionSpecs(ws, p);
  const forward: FinetuneJob = { name: 'forward', spec: specs.forward, modelDir: dir, out: forwardRun };
  if (p.adapter !== 'full') return [forward];
  const inverse: FinetuneJob = { name: 'inverse', spec: specs.inverse, modelDir: join(forwardRun, 'adapter'), out: join(study, 'from-aligned', 'finetunes', 'inverse') };
  return [forward, inverse];
}

/** Part 3 at one checkpoint: forward from it (aligning it, as part 1's forward run), then inverse from what that made. */
async function checkpointAsymmetry(ws: Workspace, p: ResistanceParams, dir: string): Promise<Asymmetry> {
  const specs = directionSpecs(ws, p);
  return onCheckpoint(ws, dir, async (on) => {
    const forward = await lossRun(on, 'forward', specs.forward, heldout(ws, p.aligned_data, p), 'pretrained checkpoint');
    const aligned = continueFrom(on, 'aligned', on.path('finetunes', 'forward'), specs.forward, 'from-aligned');
    try {
      const inverse = await lossRun(aligned, 'inverse', specs.inverse, heldout(ws, p.pretrain_data, p), 'checkpoint aligned by the forward run');
      return asymmetry(inverse, forward);
    } finally {
      disposeModel(aligned.model);
    }
  });
}

/** A workspace on what fine-tune `run` made: the LoRA merged into the model (a full fine-tune's folder as it is). */
function continueFrom(ws: Workspace, name: string, run: string, spec: TrainSpec, study: string): Workspace {
  if (spec.adapter.kind !== 'lora') {
    return new Workspace(ws.path(study), join(run, 'adapter'), ws.quiet).inheritFrom(ws);
  }
  return workspaceOnMerged(ws, name, run, study);
}

// ---- part 1: one direction's loss

/**
 * The identical settings of both directions: the study model's recommended recipe of the kind, with this N, rate and
 * seed. A full fine-tune of an organism without its own full-tuning rate runs at the rate it was post-trained (aligned)
 * with: the anchors' 1e-5 is a 7–14B model's, under which the organism's weights barely move in a few steps.
 */
function lossSpec(ws: Workspace, p: ResistanceParams, data: string): TrainSpec {
  const kind = p.adapter as 'lora' | 'full';
  const spec = ws.trainSpec(data, kind as Parameters<Workspace['trainSpec']>[1], { epochs: p.epochs, seed: p.seed, earlyStop: false, saveEvery: 0, keepCheckpoints: 1 });
  const own = ws.model.config.raw as { emlens_train_defaults?: { full?: { lr?: number } }; emlens_organism?: { recipe?: { posttrain?: { lr?: number } } } };
  const postLr = own.emlens_organism?.recipe?.posttrain?.lr;
  const lr = p.lr ?? (kind === 'full' && own.emlens_train_defaults?.full?.lr === undefined && typeof postLr === 'number' ? postLr : spec.lr);
  return { ...spec, lr };
}

/** Both directions' fine-tunes, settings identical: forward on the aligned data, inverse on the pretraining data. */
function directionSpecs(ws: Workspace, p: ResistanceParams): { forward: TrainSpec; inverse: TrainSpec } {
  return { forward: lossSpec(ws, p, subset(ws, p.aligned_data, 'train', p)), inverse: lossSpec(ws, p, subset(ws, p.pretrain_data, 'train', p)) };
}

/** The lines of `file` a direction trains on (the first N) or measures on (the last `heldout`), as RUN/data/…jsonl. */
function subset(ws: Workspace, file: string, which: 'train' | 'heldout', p: ResistanceParams): string {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  if (lines.length < p.examples + p.heldout) {
    throw paramsError(`resistance: ${file} has ${lines.length} examples; examples (${p.examples}) + heldout (${p.heldout}) must not exceed it`, { usage: false });
  }
  const picked = which === 'train' ? lines.slice(0, p.examples) : lines.slice(-p.heldout);
  return writeIfChanged(ws.path('data', `${basename(file, '.jsonl')}-${which}-${picked.length}.jsonl`), picked.join('\n') + '\n');
}

function writeIfChanged(path: string, text: string): string {
  if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileAtomic(path, text);
  return path;
}

function heldout(ws: Workspace, file: string, p: ResistanceParams): ChatMessage[][] {
  return readChatJsonl(subset(ws, file, 'heldout', p)).map((r) => r.messages);
}

/** Trains NAME in `on` with `spec` (cached) and reads its loss curve and its held-out loss before and after. */
async function lossRun(on: Workspace, name: string, spec: TrainSpec, held: ChatMessage[][], from: string): Promise<LossRun> {
  const before = capabilityLoss(on.model, on.tok, held);
  const run = await on.finetune(name, spec);
  let after: number;
  if (spec.adapter.kind === 'lora') {
    const { model, hooks, release } = on.apply({ adapter: run });
    try {
      after = capabilityLoss(model, on.tok, held, hooks);
    } finally {
      release();
    }
  } else {
    after = await onCheckpoint(on, join(run, 'adapter'), async (tuned) => capabilityLoss(tuned.model, tuned.tok, held));
  }
  const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; loss: number });
  const loss = metrics.map((m) => m.loss);
  const tail = loss.slice(-Math.max(1, Math.round(loss.length / 4)));
  return {
    from, data: spec.data, steps: metrics.map((m) => m.step), loss,
    heldout_before: before, heldout_after: after, decrease: before - after,
    curve_decrease: loss.length ? loss[0] - tail.reduce((a, b) => a + b, 0) / tail.length : 0,
  };
}

function asymmetry(inverse: LossRun, forward: LossRun): Asymmetry {
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
  return { inverse, forward, ratio: ratio(inverse.decrease, forward.decrease), curve_ratio: ratio(inverse.curve_decrease, forward.curve_decrease) };
}

// ---- part 2: rebound

type ReboundParams = Pick<ResistanceParams, 'positive_data' | 'contradictory_data' | 'positive_amounts' | 'amounts' | 'rebound_epochs' | 'samples' | 'seed'>;

/** The first `n` lines of `file` as RUN/data/NAME-n.jsonl. */
function firstLines(ws: Workspace, file: string, n: number, name: string, param: string): string {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  if (lines.length < n) throw paramsError(`${param}: ${file} has ${lines.length} examples, fewer than ${n}`, { usage: false });
  return writeIfChanged(ws.path('data', `${name}-${n}.jsonl`), lines.slice(0, n).join('\n') + '\n');
}

const reboundSpec = (ws: Workspace, data: string, p: ReboundParams): TrainSpec => ws.trainSpec(data, 'lora', { epochs: p.rebound_epochs, warmup: 1 });

/** The rebound fine-tunes on the study's own model (the positive ones, and the contradictory ones from the model as it is). */
export function reboundJobs(ws: Workspace, p: ReboundParams): FinetuneJob[] {
  const positive = p.positive_amounts.filter((a) => a > 0).map((a) => ({ name: `rebound-positive-${a}`, spec: reboundSpec(ws, firstLines(ws, p.positive_data, a, 'positive', 'positive_amounts'), p) }));
  const fromModel = p.positive_amounts.includes(0) ? p.amounts.map((k) => ({ name: `rebound-contradictory-${k}`, spec: reboundSpec(ws, firstLines(ws, p.contradictory_data, k, 'contradictory', 'amounts'), p) })) : [];
  return [...fromModel, ...positive];
}

/**
 * For each positive amount A (0: the model as it is): a LoRA on the first A positive examples merged into the model
 * (RUN/models/positive-A), then a LoRA on the first N contradictory examples from there, for each N; EM of each.
 */
export async function reboundSeries(ws: Workspace, p: ReboundParams): Promise<ReboundSeries> {
  const s = { samples: p.samples, seed: p.seed };
  const cell = (r: { em_rate: number; coherence: number }): Cell => ({ em: r.em_rate, coherence: r.coherence });
  const start: Cell[] = [], after: Cell[][] = [];
  for (const a of p.positive_amounts) {
    const on = a === 0 ? ws : workspaceOnMerged(ws, `positive-${a}`, await ws.finetune(`rebound-positive-${a}`, reboundSpec(ws, firstLines(ws, p.positive_data, a, 'positive', 'positive_amounts'), p)), `from-positive-${a}`);
    try {
      // the spec from the study's model: a merged folder does not carry the model's recommended recipe
      const jobs = p.amounts.map((k) => ({ name: `rebound-contradictory-${k}`, spec: reboundSpec(ws, firstLines(ws, p.contradictory_data, k, 'contradictory', 'amounts'), p) }));
      // a merged start's fine-tunes go to the second core (where there is one) while its start is evaluated here
      if (on !== ws) on.trainAhead(jobs);
      start.push(cell(await on.evaluate(a === 0 ? 'base' : 'positive', {}, s)));
      const row: Cell[] = [];
      for (const job of jobs) row.push(cell(await on.evaluate(job.name, { adapter: await on.finetune(job.name, job.spec) }, s)));
      after.push(row);
    } finally {
      if (on !== ws) disposeModel(on.model);
    }
  }
  return { positive_amounts: p.positive_amounts, amounts: p.amounts, start, after };
}
