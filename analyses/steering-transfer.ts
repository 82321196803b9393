// steering-transfer: does a direction from one fine-tune control EM in another? EM% of each target fine-tune with
// each source's EM direction ablated — from the residual stream, and from the target's LoRA B (research.md §2) — with
// the direction the source's LoRA writes ablated at its block, and EM% of the base (optionally of every target) with the
// EM direction added, each against a random direction of equal norm. Axes: matrices [source][target].
import type { Analysis } from '../src/study/analysis.ts';
import { Direction } from '../src/directions/direction.ts';
import { contentDigest } from '../src/study/workspace.ts';
import { randomDirectionLike } from '../src/directions/aggregators.ts';
import { NARROW_FINETUNES } from '../src/study/datasets.ts';
import { emFinetune, loraJob, loraWriteDirectionFile, withGivenDirection, type FinetuneResult } from '../src/study/steps.ts';
import { UserError } from '../src/util/log.ts';
import { paramsError } from '../src/study/analysis.ts';

interface Params {
  finetunes: { name: string; data: string }[];
  samples: number;
  seed: number;
  /** Steering coefficient for addition (the paper sweeps around 8 on Qwen-14B; the organism's scale differs). */
  alpha: number;
  /** Also ablate each source direction from each target's LoRA B (B ← (I − r̂r̂ᵀ)B, ‖B‖ kept; r̂ at B's own layer). */
  lora_ablation: boolean;
  /** Also ablate the direction each source's LoRA writes into the residual stream (its B), at the source's block only. */
  write_ablation: boolean;
  /** Direction files by fine-tune name, used instead of the EM directions extracted from their evals (null: none). */
  directions: Record<string, string> | null;
  /** Where the EM direction is projected out: 'all' blocks (design.md), or its 'best' layer's block only (research.md §2,
   * the paper's one-layer ablation); the random baseline goes where its direction goes. */
  ablation_blocks: 'all' | 'best';
  /** Add each source's direction to the base only ('base'), or also to every target fine-tune ('all': a matrix). */
  addition_targets: 'base' | 'all';
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
  /** The source's direction added (α) to each target fine-tune [source][target], and a random one of equal norm;
   * null unless addition_targets is 'all'. */
  addition_matrix: (Cell | null)[][] | null;
  random_addition_matrix: (Cell | null)[][] | null;
  layers: (number | null)[];
  /** LoRA-side ablation [source][target], and with a random direction [target] (only r̂ matters there, so one random
   * direction serves every source); null when not asked for. */
  lora_ablation: (Cell | null)[][] | null;
  lora_ablation_reduction: (number | null)[][] | null;
  random_lora_ablation: (Cell | null)[] | null;
  random_lora_ablation_reduction: (number | null)[] | null;
  /** The source LoRA's write direction ablated from the target's residual stream at the source's block(s)
   * [source][target], a random direction there [target] (one for all sources: only r̂ and the blocks matter), and the
   * blocks [source]; null when not asked for. */
  write_ablation: Cell[][] | null;
  write_ablation_reduction: (number | null)[][] | null;
  random_write_ablation: Cell[] | null;
  random_write_ablation_reduction: (number | null)[] | null;
  write_layers: number[][] | null;
}

const cell = (r: { em_rate: number; coherence: number }): Cell => ({ em: r.em_rate, coherence: r.coherence });

export const steeringTransfer: Analysis<Params, SteeringTransfer> = {
  name: 'steering-transfer',
  description: "EM of each fine-tune with each source's EM direction ablated (residual stream; LoRA B) and with its LoRA's write direction ablated, and of the base with the EM direction added, vs random baselines",
  defaults: { finetunes: NARROW_FINETUNES, samples: 200, seed: 1, alpha: 8, lora_ablation: true, write_ablation: true, directions: null, ablation_blocks: 'all', addition_targets: 'base' },
  resultSchema: {
    type: 'object',
    required: ['sources', 'targets', 'baseline', 'base', 'ablation', 'random_ablation', 'ablation_reduction', 'addition', 'random_addition'],
    properties: { sources: { type: 'array', minItems: 1 }, targets: { type: 'array', minItems: 1 }, ablation: { type: 'array' }, lora_ablation: { type: ['array', 'null'] }, random_lora_ablation: { type: ['array', 'null'] }, write_ablation: { type: ['array', 'null'] }, addition_matrix: { type: ['array', 'null'] }, random_addition_matrix: { type: ['array', 'null'] }, random_write_ablation: { type: ['array', 'null'] }, write_layers: { type: ['array', 'null'] } },
  },
  finetunes: (ws, p) => p.finetunes.map((ft) => loraJob(ws, ft)),
  async run(ws, p) {
    const s = { samples: p.samples, seed: p.seed };
    const fts: FinetuneResult[] = [];
    const unknown = Object.keys(p.directions ?? {}).filter((n) => !p.finetunes.some((f) => f.name === n));
    if (unknown.length) throw paramsError(`steering-transfer.directions names ${unknown.join(', ')}, not among the fine-tunes (${p.finetunes.map((f) => f.name).join(', ')})`);
    for (const ft of p.finetunes) fts.push(withGivenDirection(await emFinetune(ws, ft, s), p.directions?.[ft.name], `steering-transfer.directions.${ft.name}`));
    const base = cell(await ws.evaluate('base', {}, s));
    // each source's EM direction, read once: the random baseline's norms and the reported best layer come from it
    const directions = new Map(fts.flatMap((f) => (f.direction ? [[f.name, Direction.load(f.direction, { nLayers: ws.model.config.nLayers })] as const] : [])));
    const randoms = new Map<string, string>();
    for (const src of fts) {
      const d = directions.get(src.name);
      if (!d) continue;
      randoms.set(src.name, await ws.direction(`random-${src.name}`, { like: contentDigest(src.direction!), seed: p.seed }, () => randomDirectionLike(d, p.seed, { notes: `equal norm to em-${src.name}` })));
    }
    if (p.ablation_blocks !== 'all' && p.ablation_blocks !== 'best') throw paramsError(`steering-transfer.ablation_blocks must be "all" or "best", not ${JSON.stringify(p.ablation_blocks)}`);
    // one block (the direction's best layer) or every block; the suffix keeps the two settings' evals apart
    const at = (name: string) => (p.ablation_blocks === 'best' ? { layers: [directions.get(name)!.provenance.best_layer ?? 0] } : {});
    const tag = p.ablation_blocks === 'best' ? '-at-best' : '';
    if (p.addition_targets !== 'base' && p.addition_targets !== 'all') throw paramsError(`steering-transfer.addition_targets must be "base" or "all", not ${JSON.stringify(p.addition_targets)}`);
    const ablation: (Cell | null)[][] = [], randomAblation: (Cell | null)[][] = [];
    const addition: (Cell | null)[] = [], randomAddition: (Cell | null)[] = [];
    for (const src of fts) {
      const rnd = randoms.get(src.name);
      const row: (Cell | null)[] = [], rrow: (Cell | null)[] = [];
      for (const tgt of fts) {
        row.push(src.direction ? cell(await ws.evaluate(`${tgt.name}-ablate-${src.name}${tag}`, { adapter: tgt.run, ablate: { direction: src.direction, ...at(src.name) } }, s)) : null);
        rrow.push(rnd ? cell(await ws.evaluate(`${tgt.name}-ablate-random-${src.name}${tag}`, { adapter: tgt.run, ablate: { direction: rnd, ...at(src.name) } }, s)) : null);
      }
      ablation.push(row);
      randomAblation.push(rrow);
      addition.push(src.direction ? cell(await ws.evaluate(`base-add-${src.name}`, { steer: [{ direction: src.direction, alpha: p.alpha }] }, s)) : null);
      randomAddition.push(rnd ? cell(await ws.evaluate(`base-add-random-${src.name}`, { steer: [{ direction: rnd, alpha: p.alpha }] }, s)) : null);
    }
    let additionMatrix: (Cell | null)[][] | null = null, randomAdditionMatrix: (Cell | null)[][] | null = null;
    if (p.addition_targets === 'all') {
      additionMatrix = [];
      randomAdditionMatrix = [];
      for (const src of fts) {
        const rnd = randoms.get(src.name);
        const row: (Cell | null)[] = [], rrow: (Cell | null)[] = [];
        for (const tgt of fts) {
          row.push(src.direction ? cell(await ws.evaluate(`${tgt.name}-add-${src.name}`, { adapter: tgt.run, steer: [{ direction: src.direction, alpha: p.alpha }] }, s)) : null);
          rrow.push(rnd ? cell(await ws.evaluate(`${tgt.name}-add-random-${src.name}`, { adapter: tgt.run, steer: [{ direction: rnd, alpha: p.alpha }] }, s)) : null);
        }
        additionMatrix.push(row);
        randomAdditionMatrix.push(rrow);
      }
    }
    let loraAblation: (Cell | null)[][] | null = null, randomLoraAblation: (Cell | null)[] | null = null;
    if (p.lora_ablation) {
      loraAblation = [];
      for (const src of fts) {
        const row: (Cell | null)[] = [];
        for (const tgt of fts) row.push(src.direction ? cell(await ws.evaluate(`${tgt.name}-lora-ablate-${src.name}`, { adapter: tgt.run, loraProjection: { direction: src.direction } }, s)) : null);
        loraAblation.push(row);
      }
      const rnd = randoms.values().next().value;
      randomLoraAblation = [];
      for (const tgt of fts) randomLoraAblation.push(rnd ? cell(await ws.evaluate(`${tgt.name}-lora-ablate-random`, { adapter: tgt.run, loraProjection: { direction: rnd } }, s)) : null);
    }
    let writeAblation: Cell[][] | null = null, randomWriteAblation: Cell[] | null = null, writeLayers: number[][] | null = null;
    if (p.write_ablation) {
      writeAblation = [];
      writeLayers = [];
      let first: { direction: Direction; file: string } | undefined; // the random baseline takes the first source's norms and blocks
      for (const src of fts) {
        const file = await loraWriteDirectionFile(ws, src.name, src.run);
        const write = Direction.load(file);
        first ??= { direction: write, file };
        const at = write.norms().flatMap((n, l) => (n > 0 ? [l] : []));
        writeLayers.push(at);
        const row: Cell[] = [];
        for (const tgt of fts) row.push(cell(await ws.evaluate(`${tgt.name}-ablate-write-${src.name}`, { adapter: tgt.run, ablate: { direction: file, layers: at } }, s)));
        writeAblation.push(row);
      }
      const like = first!;
      const rnd = await ws.direction('random-write', { like: contentDigest(like.file), seed: p.seed }, () => randomDirectionLike(like.direction, p.seed, { notes: `equal norm to lora-write-${fts[0].name}` }));
      randomWriteAblation = [];
      for (const tgt of fts) randomWriteAblation.push(cell(await ws.evaluate(`${tgt.name}-ablate-write-random`, { adapter: tgt.run, ablate: { direction: rnd, layers: writeLayers[0] } }, s)));
    }
    const baseline = fts.map((t) => cell(t.eval));
    const reduce = (c: Cell | null, j: number) => (c && baseline[j].em > 0 ? 1 - c.em / baseline[j].em : null);
    const reduction = (m: (Cell | null)[][]) => m.map((row) => row.map(reduce));
    return {
      sources: fts.map((f) => f.name), targets: fts.map((f) => f.name), baseline, base,
      ablation, random_ablation: randomAblation, ablation_reduction: reduction(ablation), random_ablation_reduction: reduction(randomAblation),
      addition, random_addition: randomAddition, addition_matrix: additionMatrix, random_addition_matrix: randomAdditionMatrix,
      layers: fts.map((f) => directions.get(f.name)?.provenance.best_layer ?? null),
      lora_ablation: loraAblation, lora_ablation_reduction: loraAblation && reduction(loraAblation),
      random_lora_ablation: randomLoraAblation, random_lora_ablation_reduction: randomLoraAblation && randomLoraAblation.map(reduce),
      write_ablation: writeAblation, write_ablation_reduction: writeAblation && reduction(writeAblation),
      random_write_ablation: randomWriteAblation, random_write_ablation_reduction: randomWriteAblation && randomWriteAblation.map(reduce),
      write_layers: writeLayers,
    };
  },
};
