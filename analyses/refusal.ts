// refusal: the refusal direction (Arditi selection) and what it does — refusal rate on held-out harmful prompts for
// the base, with the direction ablated, and on harmless prompts with it added. Axes: rates per condition.
import { orNull, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { refusalDirection } from '../src/study/steps.ts';
import { measureRefusal, meanKl } from '../src/eval/refusal.ts';
import { readChatJsonl } from '../src/train/data.ts';
import { Direction } from '../src/directions/direction.ts';
import { applyInterventions } from '../src/interventions/spec.ts';

interface Params {
  harmful_eval: string;
  harmless_eval: string;
  /** Multiplier of the direction when it is added (1 = the mean difference itself). */
  add_scale: number;
  /** Where the direction is added: the prompt's positions (default) or every position, generated ones too. */
  add_positions: 'prompt' | 'all';
}

interface Rate { refusal_rate: number; mean_refusal_score: number }

const RATE_SCHEMA: ResultSchema<Rate> = {
  type: 'object',
  required: ['refusal_rate', 'mean_refusal_score'],
  additionalProperties: false,
  properties: { refusal_rate: { type: 'number', minimum: 0, maximum: 1 }, mean_refusal_score: { type: 'number' } },
};

export interface RefusalResult {
  layer: number;
  position: number | null;
  harmful_base: Rate;
  harmful_ablated: Rate;
  harmless_base: Rate;
  harmless_added: Rate;
  kl_harmless_ablated: number;
  /** Whether the chosen candidate passed the selection's KL < 0.1 and addition filters (false: the fallback chose). */
  filters_passed: boolean | null;
}

export const REFUSAL_RESULT_SCHEMA: ResultSchema<RefusalResult> = {
  type: 'object',
  required: ['layer', 'position', 'harmful_base', 'harmful_ablated', 'harmless_base', 'harmless_added', 'kl_harmless_ablated', 'filters_passed'],
  additionalProperties: false,
  properties: {
    layer: { type: 'integer', minimum: 0 },
    position: orNull({ type: 'integer' }),
    harmful_base: RATE_SCHEMA,
    harmful_ablated: RATE_SCHEMA,
    harmless_base: RATE_SCHEMA,
    harmless_added: RATE_SCHEMA,
    kl_harmless_ablated: { type: 'number' },
    filters_passed: orNull({ type: 'boolean' }),
  },
};

export const refusal: Analysis<Params, RefusalResult> = {
  name: 'refusal',
  description: 'Refusal direction: refusal rate on harmful prompts with it ablated, and on harmless prompts with it added',
  defaults: { harmful_eval: DATASETS.harmfulEval, harmless_eval: DATASETS.harmlessEval, add_scale: 1, add_positions: 'prompt' },
  resultSchema: REFUSAL_RESULT_SCHEMA,
  async run(ws, p) {
    const d = Direction.load(await refusalDirection(ws));
    const layer = d.provenance.best_layer ?? 0;
    // the prompts only: an answer in the file would move the measured position past the assistant tag
    const prompts = (path: string) => readChatJsonl(path, { requireAssistant: false }).map((e) => e.messages.filter((m) => m.role !== 'assistant'));
    const harmful = prompts(p.harmful_eval), harmless = prompts(p.harmless_eval);
    // the spec's hooks (no adapter: nothing to dispose); row = block = the direction's best layer
    const ablate = applyInterventions(ws.model, { ablate: { direction: d, row: layer, mode: 'full' } }).hooks;
    // added at the prompt's positions: the refusal is decided there; added at every generated position too, the
    // organism repeats the refusal token ("i i i …") instead of refusing
    const add = applyInterventions(ws.model, { steer: [{ direction: d, layer, row: layer, alpha: p.add_scale, site: 'resid_pre', positions: p.add_positions }] }).hooks;
    const rate = (r: ReturnType<typeof measureRefusal>): Rate => ({ refusal_rate: r.refusal_rate, mean_refusal_score: r.mean_refusal_score });
    return {
      layer,
      position: (d.provenance.details?.position as number | undefined) ?? null,
      harmful_base: rate(measureRefusal(ws.model, ws.tok, harmful)),
      harmful_ablated: rate(measureRefusal(ws.model, ws.tok, harmful, ablate)),
      harmless_base: rate(measureRefusal(ws.model, ws.tok, harmless)),
      harmless_added: rate(measureRefusal(ws.model, ws.tok, harmless, add)),
      kl_harmless_ablated: meanKl(ws.model, ws.tok, harmless, ablate),
      filters_passed: (d.provenance.details?.filters_passed as boolean | undefined) ?? null,
    };
  },
};
