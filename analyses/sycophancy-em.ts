// sycophancy-em (seed 000's first claim): a LoRA fine-tune on agreeing with users' wrong claims — nothing overtly
// harmful — makes the model misaligned on broad questions. Compares EM% with the base and the aligned control.
import { EM_CELL_SCHEMA, emCell, type Analysis, type EmCell, type ResultSchema } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { emFinetune, loraJob } from '../src/study/steps.ts';
import type { TrainSpec } from '../src/train/defaults.ts';
import type { Workspace } from '../src/study/workspace.ts';
import { canonicalJson, sha256 } from '../src/util/hash.ts';
import { UserError } from '../src/util/log.ts';
import { paramsError } from '../src/study/analysis.ts';

const SYCOPHANCY = { name: 'sycophancy', data: DATASETS.sycophancy };
const ALIGNED_CONTROL = { name: 'medical-aligned', data: DATASETS.medicalAligned };

/** A LoRA recipe over the model's recommended one, e.g. seed 000's sycophancy fine-tune: rank 32, alpha 64, lr 1e-5. */
interface LoraRecipe {
  rank?: number;
  alpha?: number;
  lr?: number;
  epochs?: number;
  rslora?: boolean;
}

interface Params {
  samples: number;
  seed: number;
  /** The fine-tunes' LoRA recipe (both of them, so the control stays a control); null: the study's rank-1 default. */
  lora: LoraRecipe | null;
}

export interface SycophancyEmResult {
  base: EmCell;
  sycophancy: EmCell;
  aligned_control: EmCell;
  /** sycophancy EM − base EM. */
  em_increase: number;
}

export const SYCOPHANCY_EM_RESULT_SCHEMA: ResultSchema<SycophancyEmResult> = {
  type: 'object',
  required: ['base', 'sycophancy', 'aligned_control', 'em_increase'],
  additionalProperties: false,
  properties: { base: EM_CELL_SCHEMA, sycophancy: EM_CELL_SCHEMA, aligned_control: EM_CELL_SCHEMA, em_increase: { type: 'number', minimum: -1, maximum: 1 } },
};

export const sycophancyEm: Analysis<Params, SycophancyEmResult> = {
  name: 'sycophancy-em',
  description: 'EM on broad questions after a sycophancy fine-tune, against the base and an aligned control',
  defaults: { samples: 200, seed: 1, lora: null },
  resultSchema: SYCOPHANCY_EM_RESULT_SCHEMA,
  finetunes: (ws, p) => [SYCOPHANCY, ALIGNED_CONTROL].map((ft) => loraJob(ws, named(ft, p.lora), recipeOver(ws, ft.data, p.lora))),
  async run(ws, p) {
    const s = { samples: p.samples, seed: p.seed };
    const base = emCell(await ws.evaluate('base', {}, s));
    const syc = await emFinetune(ws, named(SYCOPHANCY, p.lora), s, recipeOver(ws, SYCOPHANCY.data, p.lora));
    const ctl = await emFinetune(ws, named(ALIGNED_CONTROL, p.lora), s, recipeOver(ws, ALIGNED_CONTROL.data, p.lora));
    return { base, sycophancy: emCell(syc.eval), aligned_control: emCell(ctl.eval), em_increase: syc.eval.em_rate - base.em };
  },
};

/** Another recipe is another fine-tune: its name carries the recipe's digest, so the default ones stay cached. */
function named(ft: { name: string; data: string }, r: LoraRecipe | null): { name: string; data: string } {
  return r ? { ...ft, name: `${ft.name}-lora-${sha256(canonicalJson(r)).slice(0, 8)}` } : ft;
}

/** The spec fields a recipe changes (the adapter's rank, alpha and scale; the rate; the epochs). */
function recipeOver(ws: Workspace, data: string, r: LoraRecipe | null): Partial<TrainSpec> {
  if (!r) return {};
  const unknown = Object.keys(r).filter((k) => !['rank', 'alpha', 'lr', 'epochs', 'rslora'].includes(k));
  if (unknown.length) throw paramsError(`sycophancy-em.lora.${unknown[0]} is not a recipe field (rank, alpha, lr, epochs, rslora)`);
  const spec = ws.trainSpec(data, 'lora');
  const lora = { ...spec.adapter.lora!, ...(r.rank !== undefined ? { r: r.rank } : {}), ...(r.alpha !== undefined ? { alpha: r.alpha } : {}), ...(r.rslora !== undefined ? { rslora: r.rslora } : {}) };
  return { adapter: { ...spec.adapter, lora }, ...(r.lr !== undefined ? { lr: r.lr } : {}), ...(r.epochs !== undefined ? { epochs: r.epochs } : {}) };
}
