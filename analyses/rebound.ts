// rebound (Ji et al., research.md §6): fine-tune on small amounts of contradictory (misaligned) data, starting from
// the base and from a model first fine-tuned on all the positive (aligned) data; the positive model should resist.
// The resistance analysis' part 2 with two positive amounts (none, all). Axes: [amount].
import { readFileSync } from 'node:fs';
import { EM_CELL_SCHEMA, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { reboundJobs, reboundSeries, type Cell } from './resistance.ts';

interface Params {
  positive_data: string;
  contradictory_data: string;
  amounts: number[];
  epochs: number;
  samples: number;
  seed: number;
}

export interface ReboundResult {
  amounts: number[];
  base: Cell;
  positive: Cell;
  from_base: Cell[];
  from_positive: Cell[];
}

export const REBOUND_RESULT_SCHEMA: ResultSchema<ReboundResult> = {
  type: 'object',
  required: ['amounts', 'base', 'positive', 'from_base', 'from_positive'],
  additionalProperties: false,
  properties: {
    amounts: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 1 } },
    base: EM_CELL_SCHEMA,
    positive: EM_CELL_SCHEMA,
    from_base: { type: 'array', items: EM_CELL_SCHEMA },
    from_positive: { type: 'array', items: EM_CELL_SCHEMA },
  },
};

/** resistance's rebound settings: the model as it is (0) and after every positive example. */
function series(p: Params) {
  const all = readFileSync(p.positive_data, 'utf8').split('\n').filter((l) => l.trim()).length;
  return { positive_data: p.positive_data, contradictory_data: p.contradictory_data, positive_amounts: [0, all], amounts: p.amounts, rebound_epochs: p.epochs, samples: p.samples, seed: p.seed };
}

export const rebound: Analysis<Params, ReboundResult> = {
  name: 'rebound',
  description: 'EM after small amounts of contradictory data, from the base and from a positively fine-tuned model',
  defaults: { positive_data: DATASETS.medicalAligned, contradictory_data: DATASETS.medicalMisaligned, amounts: [16, 64, 256], epochs: 3, samples: 100, seed: 1 },
  resultSchema: REBOUND_RESULT_SCHEMA,
  finetunes: (ws, p) => reboundJobs(ws, series(p)),
  async run(ws, p) {
    const r = await reboundSeries(ws, series(p));
    return { amounts: p.amounts, base: r.start[0], positive: r.start[1], from_base: r.after[0], from_positive: r.after[1] };
  },
};
