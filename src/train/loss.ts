// Training losses: next-token cross-entropy on chosen rows only (logits never built for the whole batch × vocab),
// and KL(base ‖ tuned) between next-token distributions. Axes: h [batch, seq, dModel] → rows [M, dModel] → logits [M, vocab].
import * as tf from '@tensorflow/tfjs';
import { forward, unembed } from '../model/transformer.ts';
import { hookNames, type Hook } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import type { Batch } from './data.ts';

/** Where a forward pass starts: block `layer`, with `x` [batch, seq, dModel] the residual stream entering it. */
export interface BlockStart {
  layer: number;
  x: tf.Tensor3D;
}

/**
 * The residual stream entering block `layer` (resid_post of the block below, after its hooks) [batch, seq, dModel], or
 * nothing for block 0. Made before a gradient tape opens, the blocks under an adapter's lowest one run untaped: the
 * same values, without the tape's bookkeeping (saved tensors, a node per op) for ops no gradient goes through.
 */
export function blockStart(model: Model, hooks: Hook[], batch: Batch, layer: number): BlockStart | undefined {
  if (layer <= 0) return undefined;
  const name = hookNames.residPost(layer - 1);
  const x = tf.tidy(() => forward(model, batch.ids, { hooks, attentionMask: batch.mask, cache: [name], untilLayer: layer, logits: 'none' }).activations[name]!) as tf.Tensor3D;
  return { layer, x };
}

/** Logits [M, vocab] at the batch's loss rows (from block `from.layer` on, when given: see blockStart). */
export function rowLogits(model: Model, hooks: Hook[], batch: Batch, from?: BlockStart): tf.Tensor2D {
  return tf.tidy(() => {
    const final = hookNames.finalNorm();
    const r = forward(model, batch.ids, { hooks, attentionMask: batch.mask, cache: [final], logits: 'none', from });
    const h = r.activations[final]!; // [batch, seq, dModel]
    const d = h.shape[2]!;
    const rows = tf.gather(h.reshape([-1, d]), tf.tensor1d(batch.lossRows, 'int32')); // [M, dModel]
    return unembed(model, rows.reshape([1, -1, d]) as tf.Tensor3D).reshape([batch.lossRows.length, -1]) as tf.Tensor2D;
  });
}

/**
 * Σ over loss rows of −log p(target) (a sum, so accumulation can divide by the window's token count). Custom gradient
 * softmax − onehot: cheaper than differentiating logSumExp's max (an Equal over [M, vocab]).
 */
export function nllSum(logits: tf.Tensor2D, targets: number[]): tf.Scalar {
  const [m, vocab] = logits.shape;
  const f = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const lse = tf.logSumExp(x, -1); // [M]
    const picked = tf.gather(x.reshape([m * vocab]), tf.tensor1d(targets.map((t, i) => i * vocab + t), 'int32')); // [M]
    save([x]);
    return {
      value: tf.sum(tf.sub(lse, picked)) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.sub(tf.softmax(saved[0]), tf.oneHot(tf.tensor1d(targets, 'int32'), vocab)), dy),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return tf.tidy(() => f(logits) as tf.Scalar);
}

/** Mean over rows of KL(P_base ‖ P_tuned) = Σ p_base (log p_base − log p_tuned). baseLogits are constants. */
export function klMean(baseLogits: tf.Tensor2D, tunedLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logPb = tf.logSoftmax(baseLogits);
    const logPt = tf.logSoftmax(tunedLogits);
    return tf.mean(tf.sum(tf.mul(tf.exp(logPb), tf.sub(logPb, logPt)), -1)) as tf.Scalar;
  });
}
