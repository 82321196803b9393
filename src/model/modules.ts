// The decoder's parameters as plain data: linear layers ([in, out] kernels), norms, embeddings.
// Axes: Linear maps [..., in] → [..., out]; embed [vocab, dModel]; lmHead [dModel, vocab].
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config.ts';

/** A linear map; adapters (LoRA) implement the same interface around a base Linear. */
export interface Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** x [..., in] → [..., out] */
  apply(x: tf.Tensor): tf.Tensor;
  /** The tensors this object owns (a wrapper lists only its own, not its base's). */
  ownTensors(): tf.Tensor[];
}

export class DenseLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** w [in, out] (HF stores [out, in]; the loader transposes), b [out]. */
  constructor(readonly w: tf.Tensor2D, readonly b?: tf.Tensor1D) {
    [this.inFeatures, this.outFeatures] = w.shape;
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = x.reshape([-1, this.inFeatures]) as tf.Tensor2D; // [N, in]
      let y: tf.Tensor = tf.matMul(x2, this.w); // [N, out]
      if (this.b) y = tf.add(y, this.b);
      return y.reshape([...lead, this.outFeatures]);
    });
  }

  ownTensors(): tf.Tensor[] {
    return this.b ? [this.w, this.b] : [this.w];
  }
}

export type LinearName = 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj' | 'gate_proj' | 'up_proj' | 'down_proj';
export const LINEAR_NAMES: LinearName[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
export const ATTN_LINEARS: LinearName[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];

export interface Block {
  inputNorm: tf.Tensor1D; // [dModel]
  linears: Record<LinearName, Linear>;
  qNorm?: tf.Tensor1D; // [dHead]
  kNorm?: tf.Tensor1D; // [dHead]
  postAttnNorm?: tf.Tensor1D; // [dModel], sandwich norms only
  preMlpNorm: tf.Tensor1D; // [dModel]
  postMlpNorm?: tf.Tensor1D; // [dModel], sandwich norms only
}

export interface ModelWeights {
  embed: tf.Tensor2D; // [vocab, dModel]
  blocks: Block[];
  finalNorm: tf.Tensor1D; // [dModel]
  /** [dModel, vocab]; absent when tied to embed. */
  lmHead?: tf.Tensor2D;
}

export interface Model {
  config: ModelConfig;
  weights: ModelWeights;
  /** Folder it was loaded from, for provenance. */
  source?: string;
  /** What precedes `layers.N.` in its weight names: "model." (CausalLM), "model.language_model." (multimodal Gemma 3) … */
  weightPrefix?: string;
  /** Names of adapters applied on top of the base weights (shared with the base model object). */
  adapters: string[];
}

/** x · rsqrt(mean(x²) + eps) · w, or · (1 + w) for Gemma; over the last axis. */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor1D, eps: number, plusOne: boolean): tf.Tensor {
  return tf.tidy(() => {
    const variance = tf.mean(tf.square(x), -1, true);
    const normed = tf.mul(x, tf.rsqrt(tf.add(variance, eps)));
    return tf.mul(normed, plusOne ? tf.add(w, 1) : w);
  });
}

export function activation(x: tf.Tensor, kind: ModelConfig['act']): tf.Tensor {
  return tf.tidy(() => {
    switch (kind) {
      case 'silu':
        return tf.mul(x, tf.sigmoid(x));
      case 'gelu_tanh': {
        const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.mul(x, x)))));
        return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
      }
      case 'gelu':
        return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
    }
  });
}

/** Every tensor the model's weights hold (base and adapters), each once. */
export function modelTensors(w: ModelWeights): tf.Tensor[] {
  const out = new Set<tf.Tensor>([w.embed, w.finalNorm]);
  if (w.lmHead) out.add(w.lmHead);
  for (const b of w.blocks) {
    for (const t of [b.inputNorm, b.qNorm, b.kNorm, b.postAttnNorm, b.preMlpNorm, b.postMlpNorm]) if (t) out.add(t);
    for (const lin of Object.values(b.linears)) for (const t of lin.ownTensors()) out.add(t);
  }
  return [...out];
}

export function disposeModel(m: Model): void {
  for (const t of modelTensors(m.weights)) t.dispose();
}
