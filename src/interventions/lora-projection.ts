// LoRA-side ablation (research.md §2): B ← (I − r̂r̂ᵀ)B rescaled to the old ‖B‖, for LoRAs whose output is the
// residual stream (down_proj, o_proj); and each LoRA-B row, or an adapter's whole write, read as a direction.
// Axes: B [r, dModel]; r̂ [dModel].
import * as tf from '@tensorflow/tfjs';
import type { LoraAdapter, LoraModule } from '../adapters/lora.ts';
import { Direction, dot, norm } from '../directions/direction.ts';
import { UserError } from '../util/log.ts';
import { projectOut, unit } from './ablate.ts';
import { topEigenvector } from '../util/linalg.ts';

const WRITES_RESIDUAL = new Set(['down_proj', 'o_proj']);

/** How many of the adapter's modules write into the residual stream (the ones LoRA-side ablation acts on). */
export function residualWritingModules(lora: LoraAdapter): number {
  return [...lora.modules.values()].filter((m) => WRITES_RESIDUAL.has(m.module)).length;
}

/** One vector for every module, or one per layer (a direction's rows): each module takes the one at its own layer. */
export type VectorAtLayer = ArrayLike<number> | ((layer: number) => ArrayLike<number>);

/**
 * A new adapter with r̂ projected out of every residual-writing B, norms kept (a B lying along r̂ becomes 0); its
 * tensors are its own (copies where unchanged), so `disposeLora` frees it and leaves the source alone.
 */
export function projectLoraB(lora: LoraAdapter, vector: VectorAtLayer): LoraAdapter {
  const modules = new Map<string, LoraModule>();
  for (const [key, m] of lora.modules) {
    if (!WRITES_RESIDUAL.has(m.module)) {
      modules.set(key, { ...m, A: tf.clone(m.A), B: tf.clone(m.B) });
      continue;
    }
    const rHat = unit(Float32Array.from(typeof vector === 'function' ? vector(m.layer) : vector));
    const B = tf.tidy(() => {
      const projected = projectOut(m.B, rHat); // [r, dModel]
      // a B (almost) along r̂ has nothing left to rescale: it becomes 0, not float32 rounding blown up to ‖B‖
      const before = tf.norm(m.B), after = tf.norm(projected);
      const scale = tf.where(tf.greater(after, tf.mul(before, 1e-5)), tf.div(before, tf.maximum(after, 1e-30)), tf.scalar(0));
      return tf.mul(projected, scale) as tf.Tensor2D;
    });
    modules.set(key, { ...m, A: tf.clone(m.A), B });
  }
  return { ...lora, name: `${lora.name}⊥`, modules };
}

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
