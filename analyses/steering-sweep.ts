// steering-sweep: EM% and coherence of the base model as an EM direction is added with growing coefficients,
// layer by layer: the cell for block L adds the direction's row L at resid_post(L) (as the CLI's `--steer L:α:DIR
// --direction-layer L`; without --direction-layer the CLI reads the file's best row). Axes: [layer][coefficient].
import { orNull, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { emFinetune, loraJob, withGivenDirection } from '../src/study/steps.ts';
import type { InterventionSpec } from '../src/interventions/spec.ts';

interface Params {
  source: { name: string; data: string };
  layers: number[] | 'all';
  coefficients: number[];
  samples: number;
  seed: number;
  /** A direction file to sweep instead of the source fine-tune's EM direction (null: extract it from its eval). */
  direction: string | null;
}

export interface SteeringSweepResult {
  source: string;
  /** The direction file swept (null: the source had none; every cell is then the base's eval). */
  direction: string | null;
  layers: number[];
  coefficients: number[];
  /** [layer][coefficient] */
  em: number[][];
  coherence: number[][];
}

const RATES = { type: 'array', items: { type: 'array', items: { type: 'number', minimum: 0, maximum: 1 } } } as const;

export const STEERING_SWEEP_RESULT_SCHEMA: ResultSchema<SteeringSweepResult> = {
  type: 'object',
  required: ['source', 'direction', 'layers', 'coefficients', 'em', 'coherence'],
  additionalProperties: false,
  properties: {
    source: { type: 'string' },
    direction: orNull({ type: 'string' }),
    layers: { type: 'array', items: { type: 'integer', minimum: 0 } },
    coefficients: { type: 'array', items: { type: 'number' } },
    em: RATES,
    coherence: RATES,
  },
};

/** The intervention of the cell (block `layer`, coefficient `alpha`): the direction's row `layer` added at that block. */
export function sweepCell(direction: string, layer: number, alpha: number): InterventionSpec {
  return { steer: [{ direction, layer, row: layer, alpha }] };
}

export const steeringSweep: Analysis<Params, SteeringSweepResult> = {
  name: 'steering-sweep',
  description: 'EM% and coherence vs steering coefficient per layer, adding an EM direction to the base model',
  defaults: { source: { name: 'medical', data: DATASETS.medicalMisaligned }, layers: 'all', coefficients: [0, 2, 4, 8, 16], samples: 100, seed: 1, direction: null },
  resultSchema: STEERING_SWEEP_RESULT_SCHEMA,
  finetunes: (ws, p) => [loraJob(ws, p.source)],
  async run(ws, p) {
    const s = { samples: p.samples, seed: p.seed };
    const src = withGivenDirection(await emFinetune(ws, p.source, s), p.direction, 'steering-sweep.direction');
    const layers = p.layers === 'all' ? Array.from({ length: ws.model.config.nLayers }, (_, l) => l) : p.layers;
    // the grid's evals in one list (two cores: from both ends), coefficient 0 (or no direction) being the base model
    const cells = layers.flatMap((layer) => p.coefficients.map((alpha) => (!src.direction || alpha === 0 ? { name: 'base', iv: {} } : { name: `sweep-${p.source.name}-L${layer}-a${alpha}`, iv: sweepCell(src.direction, layer, alpha) })));
    const reports = await ws.evaluateMany(cells.map((c) => ({ ...c, s })));
    const grid = (f: (r: (typeof reports)[number]) => number) => layers.map((_, l) => p.coefficients.map((_, a) => f(reports[l * p.coefficients.length + a])));
    const em = grid((r) => r.em_rate), coherence = grid((r) => r.coherence);
    return { source: p.source.name, direction: src.direction, layers, coefficients: p.coefficients, em, coherence };
  },
};
