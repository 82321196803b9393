// steering-transfer: does a direction from one fine-tune control EM in another? EM% of each target fine-tune with
// each source's EM direction ablated, and EM% of the base with it added, each against a random direction of equal norm.
// Axes: matrices [source][target].
import type { Analysis } from '../src/study/analysis.ts';
import { Direction } from '../src/directions/direction.ts';
import { randomLike } from '../src/directions/aggregators.ts';
import { NARROW_FINETUNES } from '../src/study/datasets.ts';
import { emFinetune, loraJob } from '../src/study/steps.ts';

interface Params {
  finetunes: { name: string; data: string }[];
  samples: number;
  seed: number;
  /** Steering coefficient for addition (the paper sweeps around 8 on Qwen-14B; the organism's scale differs). */
  alpha: number;
}

interface Cell { em: number; coherence: number }

export interface SteeringTransfer {
  sources: string[];
  targets: string[];
  baseline: Cell[];
  base: Cell;
  ablation: (Cell | null)[][];
  random_ablation: (Cell | null)[][];
  /** Relative EM reduction 1 − ablated / baseline (null where the target has no EM to reduce). */
  ablation_reduction: (number | null)[][];
  random_ablation_reduction: (number | null)[][];
  addition: (Cell | null)[];
  random_addition: (Cell | null)[];
  layers: (number | null)[];
}

const cell = (r: { em_rate: number; coherence: number }): Cell => ({ em: r.em_rate, coherence: r.coherence });

export const steeringTransfer: Analysis<Params, SteeringTransfer> = {
  name: 'steering-transfer',
  description: 'EM of each fine-tune with each source EM direction ablated, and of the base with it added, vs random baselines',
  defaults: { finetunes: NARROW_FINETUNES, samples: 200, seed: 1, alpha: 8 },
  resultSchema: {
    type: 'object',
    required: ['sources', 'targets', 'baseline', 'base', 'ablation', 'random_ablation', 'ablation_reduction', 'addition', 'random_addition'],
    properties: { sources: { type: 'array', minItems: 1 }, targets: { type: 'array', minItems: 1 }, ablation: { type: 'array' } },
  },
  finetunes: (ws, p) => p.finetunes.map((ft) => loraJob(ws, ft)),
  async run(ws, p) {
    const s = { samples: p.samples, seed: p.seed };
    const fts = [];
    for (const ft of p.finetunes) fts.push(await emFinetune(ws, ft, s));
    const base = cell(await ws.evaluate('base', {}, s));
    const randoms = new Map<string, string>();
    for (const src of fts) {
      if (!src.direction) continue;
      const d = Direction.load(src.direction);
      randoms.set(src.name, await ws.direction(`random-${src.name}`, () => Direction.make(randomLike(d.vectors, p.seed), { kind: 'random', site: d.provenance.site, positions: 'none', method: 'random', best_layer: d.provenance.best_layer, notes: `equal norm to em-${src.name}` })));
    }
    const ablation: (Cell | null)[][] = [], randomAblation: (Cell | null)[][] = [];
    const addition: (Cell | null)[] = [], randomAddition: (Cell | null)[] = [];
    for (const src of fts) {
      const rnd = randoms.get(src.name);
      const row: (Cell | null)[] = [], rrow: (Cell | null)[] = [];
      for (const tgt of fts) {
        row.push(src.direction ? cell(await ws.evaluate(`${tgt.name}-ablate-${src.name}`, { lora: tgt.run, ablate: { direction: src.direction } }, s)) : null);
        rrow.push(rnd ? cell(await ws.evaluate(`${tgt.name}-ablate-random-${src.name}`, { lora: tgt.run, ablate: { direction: rnd } }, s)) : null);
      }
      ablation.push(row);
      randomAblation.push(rrow);
      addition.push(src.direction ? cell(await ws.evaluate(`base-add-${src.name}`, { steer: [{ direction: src.direction, alpha: p.alpha }] }, s)) : null);
      randomAddition.push(rnd ? cell(await ws.evaluate(`base-add-random-${src.name}`, { steer: [{ direction: rnd, alpha: p.alpha }] }, s)) : null);
    }
    const baseline = fts.map((t) => cell(t.eval));
    const reduction = (m: (Cell | null)[][]) => m.map((row) => row.map((c, j) => (c && baseline[j].em > 0 ? 1 - c.em / baseline[j].em : null)));
    return {
      sources: fts.map((f) => f.name), targets: fts.map((f) => f.name), baseline, base,
      ablation, random_ablation: randomAblation, ablation_reduction: reduction(ablation), random_ablation_reduction: reduction(randomAblation),
      addition, random_addition: randomAddition,
      layers: fts.map((f) => (f.direction ? Direction.load(f.direction).provenance.best_layer ?? null : null)),
    };
  },
};
