// Directions read off an adapter's weights rather than from activations: what a LoRA writes into the residual stream
// (each B row of down_proj / o_proj, or per layer their top singular vector) and the alignment gates' dominant input
// direction (the top singular vector of W). Axes: B [r, dModel]; gate W [dModel, C]; directions [nLayers][dModel].
import * as tf from '@tensorflow/tfjs';
import type { LoraAdapter } from '../adapters/lora.ts';
import type { Gates } from '../adapters/gates.ts';
import { UserError } from '../util/log.ts';
import { topEigenvector } from '../util/linalg.ts';
import { Direction, dot, norm } from './direction.ts';
import { randomizedTopComponent } from './aggregators.ts';
import { readArray } from '../util/tensors.ts';

/** The LoRA modules whose output is the residual stream (LoRA-side ablation acts on these; their B rows are directions). */
export const WRITES_RESIDUAL: ReadonlySet<string> = new Set(['down_proj', 'o_proj']);

/** Each residual-writing LoRA-B row as a direction (at its own layer; zero elsewhere), site resid_post. */
export function loraBDirections(lora: LoraAdapter, nLayers: number, source: string): Direction[] {
  const out: Direction[] = [];
  for (const m of lora.modules.values()) {
    if (!WRITES_RESIDUAL.has(m.module)) continue;
    const rows = m.B.arraySync() as number[][];
    rows.forEach((row, k) => {
      const vectors = Array.from({ length: nLayers }, (_, l) => (l === m.layer ? row : new Array(row.length).fill(0)));
      out.push(Direction.make(vectors, {
        kind: 'lora-b', adapter: source, site: m.module === 'down_proj' ? 'mlp_out' : 'attn_out', positions: 'none', method: 'lora-b',
        best_layer: m.layer, details: { module: m.module, rank_index: k, note: 'the direction this LoRA writes into the residual stream at its layer' },
      }));
    });
  }
  return out;
}

/**
 * A LoRA's B row has no sign of its own (B·A is unchanged when both flip), so across fine-tunes its signed cosines say
 * nothing: `d` signed so that its cosine with `ref` (e.g. its fine-tune's EM direction) at d's layer is ≥ 0.
 */
export function signedToward(d: Direction, ref: Direction, refName: string): Direction {
  const layer = d.provenance.best_layer ?? 0;
  const c = ref.cosine(d)[layer];
  const flip = c !== null && c < 0;
  return Direction.make(flip ? d.vectors.map((v) => v.map((x) => -x)) : d.vectors, {
    ...d.provenance,
    details: { ...d.provenance.details, signed_toward: refName, sign_flipped: flip },
  });
}

/**
 * The direction an adapter writes into the residual stream, one row per layer (zero where no residual-writing module
 * sits): the B row of a rank-1 module; for more rows at a layer (rank > 1, or down_proj and o_proj together) their
 * top left-singular vector, scaled by σ₁ and signed toward the rows' sum. best_layer: the layer with the largest row.
 */
export function loraWriteDirection(lora: LoraAdapter, nLayers: number, source: string): Direction {
  const rowsAt = new Map<number, number[][]>(); // layer → B rows [dModel] of its residual-writing modules
  for (const m of lora.modules.values()) {
    if (!WRITES_RESIDUAL.has(m.module)) continue;
    rowsAt.set(m.layer, [...(rowsAt.get(m.layer) ?? []), ...(m.B.arraySync() as number[][])]);
  }
  if (!rowsAt.size) throw new UserError(`${source}: no down_proj or o_proj module (nothing writes into the residual stream)`);
  const dModel = [...rowsAt.values()][0][0].length;
  const vectors = Array.from({ length: nLayers }, (_, l) => (rowsAt.has(l) ? topSingularRow(rowsAt.get(l)!) : new Float64Array(dModel)));
  const norms = vectors.map(norm);
  return Direction.make(vectors, {
    kind: 'lora-b', adapter: source, site: 'resid_post', positions: 'none', method: 'lora-b', best_layer: norms.indexOf(Math.max(...norms)),
    details: { layers: [...rowsAt.keys()].sort((a, b) => a - b), note: 'what the adapter adds to resid_post(l) lies along row l (B of down_proj / o_proj; unscaled by alpha and A)' },
  });
}

/** σ₁·v₁ of the rows' matrix R [k, dModel] (from the k × k Gram matrix RRᵀ = UΣ²Uᵀ), signed so that Σ rows · v₁ ≥ 0. */
function topSingularRow(rows: number[][]): Float64Array {
  if (rows.length === 1) return Float64Array.from(rows[0]);
  const u = topEigenvector(rows.map((a) => rows.map((b) => dot(a, b)))); // [k]
  const v = Float64Array.from(rows[0], (_, j) => rows.reduce((s, r, i) => s + u[i] * r[j], 0)); // Rᵀu = σ₁ v₁
  const sum = rows.reduce((s, r) => s + dot(r, v), 0);
  return sum < 0 ? v.map((x) => -x) : v;
}

/**
 * The gate's dominant input direction per layer: the top left-singular vector of W (or of U·V), i.e. the direction
 * of the block input h that moves the gate pre-activations most (randomized PCA of Wᵀ, float64), scaled by σ₁ and
 * signed so that moving h along it raises the gates on average (Σⱼ (Wᵀv)ⱼ ≥ 0: it opens attention). Axes: [dModel].
 */
export function gateDominantDirections(gates: Gates, nLayers: number): { vectors: Float64Array[]; strength: number[] } {
  const vectors = Array.from({ length: nLayers }, () => new Float64Array(gates.dModel));
  const strength = new Array(nLayers).fill(0);
  for (const [l, g] of gates.layers) {
    if (!g.W && !g.U) continue;
    const W = readArray<number[][]>(() => (g.W ? g.W.clone() : tf.matMul(g.U!, g.V!))); // [dModel, C]
    const d = W.length, C = W[0].length;
    if (W.every((row) => row.every((x) => x === 0))) continue; // an untrained gate reads nothing
    // W's top left-singular vector is the top right-singular vector of Wᵀ [C, d]: the randomized PCA's
    const Wt = Array.from({ length: C }, (_, j) => Float64Array.from({ length: d }, (__, i) => W[i][j]));
    const v = randomizedTopComponent(Wt, l + 1).vector;
    const wtv = Wt.map((row) => row.reduce((sum, x, i) => sum + x * v[i], 0)); // Wᵀv [C]
    const sigma = Math.sqrt(wtv.reduce((sum, x) => sum + x * x, 0));
    const opens = wtv.reduce((sum, x) => sum + x, 0); // Σⱼ (Wᵀv)ⱼ: how the mean gate pre-activation moves along v
    vectors[l] = v.map((x) => (opens < 0 ? -x : x) * sigma);
    strength[l] = sigma;
  }
  return { vectors, strength };
}

/** The gates' dominant input directions as a Direction (site resid_pre, the gates' input); best_layer: the strongest. */
export function gateDirection(gates: Gates, nLayers: number, source: string): Direction {
  if (gates.kind === 'diag') throw new UserError(`${source}: diagonal gates read nothing from the residual stream (g = 2σ(b)), so they have no input direction`);
  const { vectors, strength } = gateDominantDirections(gates, nLayers);
  return Direction.make(vectors, {
    kind: 'gate', adapter: source, site: 'resid_pre', positions: 'none', method: 'gate-svd', best_layer: strength.indexOf(Math.max(...strength)),
    details: { gate_kind: gates.kind, strength, note: "row l: the block input direction that moves layer l's gates most (top singular vector of W, × σ₁), signed to open them" },
  });
}
