// Activation addition: h ← h + α·v at a hook site of one layer, at every position (prompt and generated tokens) or
// at the prompt's only.
// Axes: v [dModel]; the hooked activation [batch, seq, dModel].
import * as tf from '@tensorflow/tfjs';
import { hookNames, type Hook, type HookSite } from '../model/hooks.ts';

export interface SteerSpec {
  layer: number;
  alpha: number;
  vector: Float32Array;
  /** resid_post by default (design.md: steering L:α:v adds to resid_post(L)). */
  site?: HookSite;
  /** 'all' (default): prompt and generated tokens; 'prompt': the prompt's positions only (the prefill forward). */
  positions?: 'all' | 'prompt';
}

export function steeringHook(spec: SteerSpec): Hook {
  const v = spec.vector;
  const promptOnly = spec.positions === 'prompt';
  return {
    name: hookNames.site(spec.site ?? 'resid_post', spec.layer),
    fn: (x, ctx) => (promptOnly && ctx.phase !== 'prefill' ? undefined : tf.add(x, tf.mul(tf.tensor1d(v), spec.alpha))),
  };
}
