// Weight orthogonalisation (Arditi): W ← W − r̂r̂ᵀW for every writer to the residual stream (embedding, o_proj, down_proj,
// biases); a tied unembedding is kept (untied). Axes: embed [vocab, dModel]; kernels [in, dModel]; r̂ [dModel].
import * as tf from '@tensorflow/tfjs';
import { DenseLinear, type Block, type Model } from '../model/modules.ts';
import { unit } from './ablate.ts';
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';

/** X − (X r̂) r̂ᵀ over the last axis (rows of X are residual-stream vectors). */
function removeComponent(x: tf.Tensor, rHat: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => tf.sub(x, tf.mul(tf.sum(tf.mul(x, rHat), -1, true), rHat)));
}

/** A model whose residual stream can never carry r̂ (new tensors for the changed weights; shared otherwise). */
export function orthogonalizeWeights(model: Model, vector: ArrayLike<number>): Model {
  if (model.config.sandwichNorms) {
    // a norm after o_proj / down_proj rescales each channel: a write orthogonal to r̂ is no longer so once normed
    throw new EmlensError('spec.ablate', `weight orthogonalisation: ${model.config.raw.model_type ?? 'this model'} normalises each attention and MLP output before adding it to the residual stream, so orthogonal weights would not equal ablation; ablate with hooks instead (spec.ablate)`, { inline: true });
  }
  const r = tf.tensor1d(unit(Float32Array.from(vector)));
  try {
    const write = (lin: DenseLinear) => new DenseLinear(removeComponent(lin.w, r) as tf.Tensor2D, lin.b ? (removeComponent(lin.b, r) as tf.Tensor1D) : undefined);
    const blocks: Block[] = model.weights.blocks.map((b) => {
      const o = b.linears.o_proj, d = b.linears.down_proj;
      if (!(o instanceof DenseLinear) || !(d instanceof DenseLinear)) throw new Error('orthogonalizeWeights: merge adapters first');
      return { ...b, linears: { ...b.linears, o_proj: write(o), down_proj: write(d) } };
    });
    const embed = removeComponent(model.weights.embed, r) as tf.Tensor2D;
    // Tied embeddings are untied: the ablation changes what is written, not how the final state is read out.
    const tied = model.config.tieEmbeddings;
    const lmHead = tied ? (tf.tidy(() => model.weights.embed.transpose()) as tf.Tensor2D) : model.weights.lmHead;
    const config = tied ? { ...model.config, tieEmbeddings: false, raw: { ...model.config.raw, tie_word_embeddings: false } } : model.config;
    return { ...model, config, weights: { ...model.weights, embed, blocks, lmHead }, adapters: [...model.adapters, 'orthogonalized'] };
  } finally {
    r.dispose();
  }
}

/** Disposes the tensors orthogonalizeWeights made (the ones not shared with `base`). */
export function disposeOrthogonalized(model: Model, base: Model): void {
  if (model.weights.embed !== base.weights.embed) model.weights.embed.dispose();
  if (model.weights.lmHead && model.weights.lmHead !== base.weights.lmHead) model.weights.lmHead.dispose();
  model.weights.blocks.forEach((b, l) => {
    for (const n of ['o_proj', 'down_proj'] as const) if (b.linears[n] !== base.weights.blocks[l].linears[n]) for (const t of b.linears[n].ownTensors()) t.dispose();
  });
}
