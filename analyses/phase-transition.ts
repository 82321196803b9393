// phase-transition: the rotation of a rank-1 LoRA's B vector over training (local cosine for k = 5, 10, 15 steps),
// with the loss, the detected transition step and the PCA of the B trajectory. Axes: [step].
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { orNull, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { phaseTransition, trajectoryPca, type BSnapshot, type TrajectoryPca } from '../src/train/phase.ts';
import type { Workspace } from '../src/study/workspace.ts';
import type { FinetuneJob } from '../src/study/background.ts';

interface Params {
  finetune: { name: string; data: string };
  save_every: number;
  epochs: number;
  lr: number | null;
}

export interface PhaseTransitionResult {
  finetune: string;
  steps: number[];
  local_cosine: Record<string, (number | null)[]>;
  b_norm: number[];
  loss: { step: number; loss: number }[];
  transition_step: number | null;
  /** PCA of the B trajectory (research.md §1): two components' shares of its variance and each step's coordinates. */
  trajectory_pca: TrajectoryPca;
}

const NUMBERS: ResultSchema<number[]> = { type: 'array', items: { type: 'number' } };
const COSINES: ResultSchema<(number | null)[]> = { type: 'array', items: orNull({ type: 'number' }) };

export const PHASE_TRANSITION_RESULT_SCHEMA: ResultSchema<PhaseTransitionResult> = {
  type: 'object',
  required: ['finetune', 'steps', 'local_cosine', 'b_norm', 'loss', 'transition_step', 'trajectory_pca'],
  additionalProperties: false,
  properties: {
    finetune: { type: 'string' },
    steps: { type: 'array', minItems: 2, items: { type: 'integer', minimum: 0 } },
    local_cosine: { type: 'object', required: ['5', '10', '15'], properties: { 5: COSINES, 10: COSINES, 15: COSINES }, additionalProperties: COSINES },
    b_norm: NUMBERS,
    loss: { type: 'array', items: { type: 'object', required: ['step', 'loss'], additionalProperties: false, properties: { step: { type: 'integer' }, loss: { type: 'number' } } } },
    transition_step: orNull({ type: 'integer' }),
    trajectory_pca: {
      type: 'object',
      required: ['explained', 'coords', 'steps'],
      additionalProperties: false,
      properties: { explained: NUMBERS, coords: { type: 'array', items: NUMBERS }, steps: NUMBERS },
    },
  },
};

/** The fine-tune whose B vector is followed: a snapshot every `save_every` steps, no early stop. */
function phaseJob(ws: Workspace, p: Params): FinetuneJob {
  const spec = ws.trainSpec(p.finetune.data, 'lora', { saveEvery: p.save_every, epochs: p.epochs, keepCheckpoints: 1, earlyStop: false });
  if (p.lr !== null) spec.lr = p.lr;
  return { name: p.finetune.name, spec };
}

export const phaseTransitionAnalysis: Analysis<Params, PhaseTransitionResult> = {
  name: 'phase-transition',
  description: 'LoRA-B rotation over a rank-1 EM fine-tune and the step where it turns',
  defaults: { finetune: { name: 'medical-phase', data: DATASETS.medicalMisaligned }, save_every: 1, epochs: 1, lr: null },
  resultSchema: PHASE_TRANSITION_RESULT_SCHEMA,
  finetunes: (ws, p) => [phaseJob(ws, p)],
  async run(ws, p) {
    const job = phaseJob(ws, p);
    const run = await ws.finetune(job.name, job.spec);
    const snaps = readFileSync(join(run, 'lora_b.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as BSnapshot);
    const ph = phaseTransition(snaps);
    const metrics = existsSync(join(run, 'metrics.jsonl')) ? readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; loss: number }) : [];
    return { finetune: p.finetune.name, steps: ph.steps, local_cosine: ph.localCosine, b_norm: ph.bNorm, loss: metrics.map((m) => ({ step: m.step, loss: m.loss })), transition_step: ph.transitionStep, trajectory_pca: trajectoryPca(snaps) };
  },
};
