// phase-transition: the rotation of a rank-1 LoRA's B vector over training (local cosine for k = 5, 10, 15 steps),
// with the loss, the turn of B (phase-turn.ts), the PCA of the B trajectory and broad EM of adapters saved along the
// run, before and after the turn. Axes: [step]; checkpoints [checkpoint].
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { orNull, paramsError, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { phaseTransition, trajectoryPca, type BSnapshot, type TrajectoryPca } from '../src/train/phase.ts';
import { turnRuleFields } from '../src/train/phase-turn.ts';
import { evenlySpacedSteps, runProgress, snapshotDir } from '../src/train/trainer.ts';
import type { Workspace } from '../src/study/workspace.ts';
import type { FinetuneJob } from '../src/study/background.ts';

interface Params {
  finetune: { name: string; data: string };
  save_every: number;
  epochs: number;
  lr: number | null;
  /**
   * The fine-tune's recipe beyond the rate (null: the model's card): warm-up steps, LoRA α (PEFT's lora_alpha), the
   * training seed, AdamW's ε (HF's adam_epsilon; null: 1e-8), micro-batches per optimizer step.
   */
  warmup: number | null;
  lora_alpha: number | null;
  train_seed: number | null;
  adam_eps: number | null;
  grad_accum: number | null;
  /** Adapters saved at this many evenly spaced steps, each evaluated for broad EM (0: none). */
  checkpoints: number;
  samples: number;
  seed: number;
}

/** Broad EM of the adapter after `step` (step 0: the model before the fine-tune). */
export interface PhaseCheckpoint {
  step: number;
  em: number;
  coherence: number;
}

export interface PhaseTransitionResult {
  finetune: string;
  steps: number[];
  local_cosine: Record<string, (number | null)[]>;
  b_norm: number[];
  loss: { step: number; loss: number }[];
  /** The turn of B: the step where the k = 5 local cosine rises at least turn_rule.min_rise above its running level
   * (the median over the turn_rule.window steps before), away from the run's first and last turn_rule.margin, with at
   * least turn_rule.min_travel of B's way ahead (travel_after); null when B moves without turning. Reports written
   * before this rule held the largest cosine instead (upgraded). */
  transition_step: number | null;
  transition_rise: number | null;
  /** [step]: the k = 5 local cosine minus its running level. */
  rise: (number | null)[];
  /** min_travel null: not applied (a result upgraded from one that kept no travel_after). */
  turn_rule: { min_rise: number; margin: number; window: number; min_travel: number | null };
  /** [step]: the share of B's way still ahead, ‖B[last] − B[t]‖ / max_s ‖B[s] − B[first]‖ (null in upgraded older results). */
  travel_after: number[] | null;
  /** PCA of the B trajectory (research.md §1): two components' shares of its variance and each step's coordinates. */
  trajectory_pca: TrajectoryPca;
  checkpoints: PhaseCheckpoint[];
  /** Mean EM of the checkpoints before the turn, and from it on (null without a turn or without checkpoints there). */
  em_before: number | null;
  em_after: number | null;
}

const NUMBERS: ResultSchema<number[]> = { type: 'array', items: { type: 'number' } };
const COSINES: ResultSchema<(number | null)[]> = { type: 'array', items: orNull({ type: 'number' }) };

export const PHASE_TRANSITION_RESULT_SCHEMA: ResultSchema<PhaseTransitionResult> = {
  type: 'object',
  required: ['finetune', 'steps', 'local_cosine', 'b_norm', 'loss', 'transition_step', 'transition_rise', 'rise', 'travel_after', 'turn_rule', 'trajectory_pca', 'checkpoints', 'em_before', 'em_after'],
  additionalProperties: false,
  properties: {
    finetune: { type: 'string' },
    steps: { type: 'array', minItems: 2, items: { type: 'integer', minimum: 0 } },
    local_cosine: { type: 'object', required: ['5', '10', '15'], properties: { 5: COSINES, 10: COSINES, 15: COSINES }, additionalProperties: COSINES },
    b_norm: NUMBERS,
    loss: { type: 'array', items: { type: 'object', required: ['step', 'loss'], additionalProperties: false, properties: { step: { type: 'integer' }, loss: { type: 'number' } } } },
    transition_step: orNull({ type: 'integer' }),
    transition_rise: orNull({ type: 'number' }),
    rise: COSINES,
    travel_after: orNull(NUMBERS),
    turn_rule: {
      type: 'object',
      required: ['min_rise', 'margin', 'window', 'min_travel'],
      additionalProperties: false,
      properties: { min_rise: { type: 'number' }, margin: { type: 'number' }, window: { type: 'number' }, min_travel: orNull({ type: 'number' }) },
    },
    trajectory_pca: {
      type: 'object',
      required: ['explained', 'coords', 'steps'],
      additionalProperties: false,
      properties: { explained: NUMBERS, coords: { type: 'array', items: NUMBERS }, steps: NUMBERS },
    },
    checkpoints: {
      type: 'array',
      items: {
        type: 'object',
        required: ['step', 'em', 'coherence'],
        additionalProperties: false,
        properties: { step: { type: 'integer', minimum: 0 }, em: { type: 'number', minimum: 0, maximum: 1 }, coherence: { type: 'number', minimum: 0, maximum: 1 } },
      },
    },
    em_before: orNull({ type: 'number' }),
    em_after: orNull({ type: 'number' }),
  },
};

/**
 * The fine-tune whose B vector is followed: a snapshot every `save_every` steps, no early stop, and the whole adapter
 * saved at `checkpoints` evenly spaced steps (the last one is the run's end).
 */
function phaseJob(ws: Workspace, p: Params): FinetuneJob {
  const spec = ws.trainSpec(p.finetune.data, 'lora', { saveEvery: p.save_every, epochs: p.epochs, keepCheckpoints: 1, earlyStop: false });
  if (p.lr !== null) spec.lr = recipeNumber('lr', p.lr);
  if (p.warmup !== null) spec.warmup = recipeNumber('warmup', p.warmup);
  if (p.lora_alpha !== null) spec.adapter = { ...spec.adapter, lora: { ...spec.adapter.lora!, alpha: recipeNumber('lora_alpha', p.lora_alpha) } };
  if (p.train_seed !== null) spec.seed = recipeNumber('train_seed', p.train_seed);
  if (p.adam_eps !== null) spec.adamEps = recipeNumber('adam_eps', p.adam_eps);
  if (p.grad_accum !== null) spec.gradAccum = recipeNumber('grad_accum', p.grad_accum);
  if (p.checkpoints > 0) spec.snapshotCount = p.checkpoints; // the trainer spaces them over its own step count
  return { name: p.finetune.name, spec };
}

/** A recipe value whose default is null (the card's) takes any JSON type in --params: a number is required here. */
function recipeNumber(key: string, v: unknown): number {
  if (typeof v !== 'number') throw paramsError(`phase-transition.${key} must be a number or null, not ${JSON.stringify(v)}`);
  return v;
}

export const phaseTransitionAnalysis: Analysis<Params, PhaseTransitionResult> = {
  name: 'phase-transition',
  description: 'LoRA-B rotation over a rank-1 EM fine-tune, the step where it turns, and broad EM of the adapter before and after',
  defaults: { finetune: { name: 'medical-phase', data: DATASETS.medicalMisaligned }, save_every: 1, epochs: 1, lr: null, warmup: null, lora_alpha: null, train_seed: null, adam_eps: null, grad_accum: null, checkpoints: 8, samples: 100, seed: 1 },
  resultSchema: PHASE_TRANSITION_RESULT_SCHEMA,
  finetunes: (ws, p) => [phaseJob(ws, p)],
  async run(ws, p) {
    if (!Number.isInteger(p.checkpoints) || p.checkpoints < 0) throw paramsError(`phase-transition.checkpoints must be an integer ≥ 0, not ${p.checkpoints}`);
    const job = phaseJob(ws, p);
    const run = await ws.finetune(job.name, job.spec);
    const snaps = readFileSync(join(run, 'lora_b.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as BSnapshot);
    const ph = phaseTransition(snaps);
    const metrics = existsSync(join(run, 'metrics.jsonl')) ? readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; loss: number }) : [];
    const checkpoints = await checkpointEm(ws, p, run, evenlySpacedSteps(job.spec.snapshotCount ?? 0, runProgress(run)?.total ?? 0));
    const t = ph.transitionStep;
    const mean = (cs: PhaseCheckpoint[]) => (cs.length ? cs.reduce((a, c) => a + c.em, 0) / cs.length : null);
    return {
      finetune: p.finetune.name, steps: ph.steps, local_cosine: ph.localCosine, b_norm: ph.bNorm, loss: metrics.map((m) => ({ step: m.step, loss: m.loss })),
      transition_step: t, transition_rise: ph.transitionRise, rise: ph.rise, turn_rule: turnRuleFields(ph.rule), travel_after: ph.travelAfter,
      trajectory_pca: trajectoryPca(snaps), checkpoints,
      em_before: t === null ? null : mean(checkpoints.filter((c) => c.step < t)), em_after: t === null ? null : mean(checkpoints.filter((c) => c.step >= t)),
    };
  },
};

/** EM of the model before the fine-tune (step 0) and of each saved adapter, both cores taking evals where there are two. */
async function checkpointEm(ws: Workspace, p: Params, run: string, steps: number[]): Promise<PhaseCheckpoint[]> {
  if (!steps.length) return [];
  const s = { samples: p.samples, seed: p.seed };
  const items = [{ name: 'base', iv: {}, s }, ...steps.map((step) => ({ name: `${p.finetune.name}-step-${step}`, iv: { adapter: snapshotDir(run, step) }, s }))];
  const reports = await ws.evaluateMany(items);
  return [0, ...steps].map((step, i) => ({ step, em: reports[i].em_rate, coherence: reports[i].coherence }));
}

