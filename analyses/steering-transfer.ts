// steering-transfer: does a direction from one fine-tune control EM in another? EM% of each target fine-tune with
// each source's EM direction ablated — from the residual stream, and from the target's LoRA B (research.md §2) — with
// the direction the source's LoRA writes ablated at its block, and EM% of the base (optionally of every target) with the
// EM direction added, each against a random direction of equal norm. Axes: none — one row per (source, target,
// intervention, control) cell, in long format.
import { orNull, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import { Direction } from '../src/directions/direction.ts';
import { contentDigest, type InterventionSpec } from '../src/study/workspace.ts';
import { randomDirectionLike } from '../src/directions/aggregators.ts';
import { NARROW_FINETUNES } from '../src/study/datasets.ts';
import { emFinetune, loraJob, loraWriteDirectionFile, withGivenDirection, type FinetuneResult } from '../src/study/steps.ts';
import { TRANSFER_BASE_TARGET, TRANSFER_INTERVENTIONS, type TransferIntervention } from '../src/report/upgrade.ts';
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

/** One measured cell: the target model evaluated with the source's direction under one intervention. */
export interface TransferRow {
  /** The fine-tune whose direction acts; null for no intervention, and for a random direction shared by every source
   * (the LoRA-B and write ablations' random baselines: only the direction's unit vector and blocks matter there). */
  source: string | null;
  /** The model evaluated: a fine-tune's name, or TRANSFER_BASE_TARGET ('base') for the base model. */
  target: string;
  /** 'none' (the target as it is), 'ablation' (projected out of the residual stream at every block, or the best
   * layer's block), 'lora_ablation' (out of the target's LoRA B, ‖B‖ kept), 'write_ablation' (the source LoRA's
   * write direction out of the residual stream at the source's block(s): write_layers), 'addition' (added, α). */
  intervention: TransferIntervention;
  /** A random direction of equal norm in place of the source's. */
  control: boolean;
  em: number;
  coherence: number;
  /** Rated answers behind em and coherence (null in reports written before results were rows: they kept the rates only). */
  n: number | null;
  /** Relative EM reduction 1 − em / the target's own EM, for ablations (null where the target has no EM to reduce,
   * and for 'none' and 'addition'). */
  reduction: number | null;
}

export interface SteeringTransferResult {
  sources: string[];
  targets: string[];
  /** Each source's EM direction's best layer [source] (null: no direction: too few misaligned answers). */
  layers: (number | null)[];
  /** The blocks each source LoRA writes at [source] (where its write direction is ablated; the shared random one goes
   * at the first source's); null when the write ablation was not run. */
  write_layers: number[][] | null;
  /** Every cell measured; a source without a direction has no rows of its own. */
  rows: TransferRow[];
}

const RATE = { type: 'number', minimum: 0, maximum: 1 } as const;

export const TRANSFER_ROW_SCHEMA: ResultSchema<TransferRow> = {
  type: 'object',
  required: ['source', 'target', 'intervention', 'control', 'em', 'coherence', 'n', 'reduction'],
  additionalProperties: false,
  properties: {
    source: orNull({ type: 'string' }),
    target: { type: 'string' },
    intervention: { type: 'string', enum: TRANSFER_INTERVENTIONS },
    control: { type: 'boolean' },
    em: RATE,
    coherence: RATE,
    n: orNull({ type: 'integer', minimum: 0 }),
    reduction: orNull({ type: 'number' }),
  },
};

export const STEERING_TRANSFER_RESULT_SCHEMA: ResultSchema<SteeringTransferResult> = {
  type: 'object',
  required: ['sources', 'targets', 'layers', 'write_layers', 'rows'],
  additionalProperties: false,
  properties: {
    sources: { type: 'array', minItems: 1, items: { type: 'string' } },
    targets: { type: 'array', minItems: 1, items: { type: 'string' } },
    layers: { type: 'array', items: orNull({ type: 'integer', minimum: 0 }) },
    write_layers: orNull({ type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0 } } }),
    rows: { type: 'array', items: TRANSFER_ROW_SCHEMA },
  },
};

type Rated = { em_rate: number; coherence: number; n: number };

export const steeringTransfer: Analysis<Params, SteeringTransferResult> = {
  name: 'steering-transfer',
  description: "EM of each fine-tune with each source's EM direction ablated (residual stream; LoRA B) and with its LoRA's write direction ablated, and of the base with the EM direction added, vs random baselines",
  defaults: { finetunes: NARROW_FINETUNES, samples: 200, seed: 1, alpha: 8, lora_ablation: true, write_ablation: true, directions: null, ablation_blocks: 'all', addition_targets: 'base' },
  resultSchema: STEERING_TRANSFER_RESULT_SCHEMA,
  finetunes: (ws, p) => p.finetunes.map((ft) => loraJob(ws, ft)),
  async run(ws, p) {
    const s = { samples: p.samples, seed: p.seed };
    const fts: FinetuneResult[] = [];
    const unknown = Object.keys(p.directions ?? {}).filter((n) => !p.finetunes.some((f) => f.name === n));
    if (unknown.length) throw paramsError(`steering-transfer.directions names ${unknown.join(', ')}, not among the fine-tunes (${p.finetunes.map((f) => f.name).join(', ')})`);
    for (const ft of p.finetunes) fts.push(withGivenDirection(await emFinetune(ws, ft, s), p.directions?.[ft.name], `steering-transfer.directions.${ft.name}`));
    const base = await ws.evaluate('base', {}, s);
    // every cell a row, in the order they are measured; an ablation's reduction is against the target's own EM
    const ownEm = new Map(fts.map((t) => [t.name, t.eval.em_rate]));
    const rows: TransferRow[] = [];
    const add = (source: string | null, target: string, intervention: TransferIntervention, control: boolean, r: Rated) => {
      const own = ownEm.get(target);
      const reduction = intervention !== 'none' && intervention !== 'addition' && own !== undefined && own > 0 ? 1 - r.em_rate / own : null;
      rows.push({ source, target, intervention, control, em: r.em_rate, coherence: r.coherence, n: r.n, reduction });
    };
    for (const t of fts) add(null, t.name, 'none', false, t.eval);
    add(null, TRANSFER_BASE_TARGET, 'none', false, base);
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
    // the cells in the order they are reported, then their evals (two cores: from both ends of the list)
    const cells: { source: string | null; target: string; intervention: TransferIntervention; control: boolean; name: string; iv: InterventionSpec }[] = [];
    const cell = (source: string | null, target: string, intervention: TransferIntervention, control: boolean, name: string, iv: InterventionSpec) => cells.push({ source, target, intervention, control, name, iv });
    for (const src of fts) {
      const rnd = randoms.get(src.name);
      if (!src.direction || !rnd) continue;
      for (const tgt of fts) {
        cell(src.name, tgt.name, 'ablation', false, `${tgt.name}-ablate-${src.name}${tag}`, { adapter: tgt.run, ablate: { direction: src.direction, ...at(src.name) } });
        cell(src.name, tgt.name, 'ablation', true, `${tgt.name}-ablate-random-${src.name}${tag}`, { adapter: tgt.run, ablate: { direction: rnd, ...at(src.name) } });
      }
      cell(src.name, TRANSFER_BASE_TARGET, 'addition', false, `base-add-${src.name}`, { steer: [{ direction: src.direction, alpha: p.alpha }] });
      cell(src.name, TRANSFER_BASE_TARGET, 'addition', true, `base-add-random-${src.name}`, { steer: [{ direction: rnd, alpha: p.alpha }] });
    }
    if (p.addition_targets === 'all') {
      for (const src of fts) {
        const rnd = randoms.get(src.name);
        if (!src.direction || !rnd) continue;
        for (const tgt of fts) {
          cell(src.name, tgt.name, 'addition', false, `${tgt.name}-add-${src.name}`, { adapter: tgt.run, steer: [{ direction: src.direction, alpha: p.alpha }] });
          cell(src.name, tgt.name, 'addition', true, `${tgt.name}-add-random-${src.name}`, { adapter: tgt.run, steer: [{ direction: rnd, alpha: p.alpha }] });
        }
      }
    }
    if (p.lora_ablation) {
      for (const src of fts) {
        if (!src.direction) continue;
        for (const tgt of fts) cell(src.name, tgt.name, 'lora_ablation', false, `${tgt.name}-lora-ablate-${src.name}`, { adapter: tgt.run, loraProjection: { direction: src.direction } });
      }
      const rnd = randoms.values().next().value;
      if (rnd) for (const tgt of fts) cell(null, tgt.name, 'lora_ablation', true, `${tgt.name}-lora-ablate-random`, { adapter: tgt.run, loraProjection: { direction: rnd } });
    }
    let writeLayers: number[][] | null = null;
    if (p.write_ablation) {
      writeLayers = [];
      let first: { direction: Direction; file: string } | undefined; // the random baseline takes the first source's norms and blocks
      for (const src of fts) {
        const file = await loraWriteDirectionFile(ws, src.name, src.run);
        const write = Direction.load(file);
        first ??= { direction: write, file };
        const blocks = write.norms().flatMap((n, l) => (n > 0 ? [l] : []));
        writeLayers.push(blocks);
        for (const tgt of fts) cell(src.name, tgt.name, 'write_ablation', false, `${tgt.name}-ablate-write-${src.name}`, { adapter: tgt.run, ablate: { direction: file, layers: blocks } });
      }
      const like = first!;
      const rnd = await ws.direction('random-write', { like: contentDigest(like.file), seed: p.seed }, () => randomDirectionLike(like.direction, p.seed, { notes: `equal norm to lora-write-${fts[0].name}` }));
      for (const tgt of fts) cell(null, tgt.name, 'write_ablation', true, `${tgt.name}-ablate-write-random`, { adapter: tgt.run, ablate: { direction: rnd, layers: writeLayers[0] } });
    }
    const reports = await ws.evaluateMany(cells.map((c) => ({ name: c.name, iv: c.iv, s })));
    cells.forEach((c, i) => add(c.source, c.target, c.intervention, c.control, reports[i]));
    return {
      sources: fts.map((f) => f.name), targets: fts.map((f) => f.name),
      layers: fts.map((f) => directions.get(f.name)?.provenance.best_layer ?? null),
      write_layers: writeLayers,
      rows,
    };
  },
};
