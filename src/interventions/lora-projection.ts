// LoRA-side ablation (research.md §2): B ← (I − r̂r̂ᵀ)B rescaled to the old ‖B‖, for LoRAs whose output is the
// residual stream (down_proj, o_proj); the LoRA-B rows read as directions are directions/adapter-directions.ts.
// Axes: B [r, dModel]; r̂ [dModel].
import * as tf from '@tensorflow/tfjs';
import type { LoraAdapter, LoraModule } from '../adapters/lora.ts';
import { WRITES_RESIDUAL } from '../directions/adapter-directions.ts';
import { projectOut, unit } from './ablate.ts';

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
