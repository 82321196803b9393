// Full-model training: a copy of a model whose weights (every one, or those a name selects) are tf.Variables named
// after their HF tensors, for pretraining the organism from scratch and for full fine-tuning. Axes as in modules.ts.
import * as tf from '@tensorflow/tfjs';
import { DenseLinear, LINEAR_NAMES, ATTN_LINEARS, type Block, type Model, type ModelWeights } from './modules.ts';

export interface TrainableModel {
  model: Model;
  /** In the order of weightNames (blocks first, then embeddings, final norm, LM head). */
  variables: tf.Variable[];
}

/**
 * The model with every weight passed through `f` with its HF tensor name (the names saveModel writes; kernels stay
 * [in, out]), in one fixed order: each block's linears (weight, then bias), its norms, then embeddings, final norm and
 * the LM head (absent when tied to the embeddings).
 */
function mapWeights(model: Model, f: <T extends tf.Tensor>(t: T, name: string) => T): ModelWeights {
  const w = model.weights;
  const blocks: Block[] = w.blocks.map((b, l) => {
    const p = `model.layers.${l}.`;
    const linears = { ...b.linears };
    for (const n of LINEAR_NAMES) {
      const lin = b.linears[n];
      if (!(lin instanceof DenseLinear)) throw new Error(`toTrainable: ${p}${n} carries an adapter`);
      const mod = ATTN_LINEARS.includes(n) ? 'self_attn' : 'mlp';
      linears[n] = new DenseLinear(f(lin.w, `${p}${mod}.${n}.weight`), lin.b ? f(lin.b, `${p}${mod}.${n}.bias`) : undefined);
    }
    return {
      inputNorm: f(b.inputNorm, `${p}input_layernorm.weight`),
      linears,
      qNorm: b.qNorm && f(b.qNorm, `${p}self_attn.q_norm.weight`),
      kNorm: b.kNorm && f(b.kNorm, `${p}self_attn.k_norm.weight`),
      postAttnNorm: b.postAttnNorm && f(b.postAttnNorm, `${p}post_attention_layernorm.weight`),
      preMlpNorm: f(b.preMlpNorm, `${p}${b.postAttnNorm ? 'pre_feedforward' : 'post_attention'}_layernorm.weight`),
      postMlpNorm: b.postMlpNorm && f(b.postMlpNorm, `${p}post_feedforward_layernorm.weight`),
    };
  });
  return {
    embed: f(w.embed, 'model.embed_tokens.weight'),
    blocks,
    finalNorm: f(w.finalNorm, 'model.norm.weight'),
    lmHead: w.lmHead && f(w.lmHead, 'lm_head.weight'),
  };
}

/** The HF names of the model's weights, in toTrainable's order (no tensor is made). */
export function weightNames(model: Model): string[] {
  const names: string[] = [];
  mapWeights(model, (t, name) => {
    names.push(name);
    return t;
  });
  return names;
}

/**
 * Variables initialised from the model's weights (the given model is left as it is), for every weight or those whose
 * name `select` accepts; the others stay the model's own tensors, shared with it.
 */
export function toTrainable(model: Model, select: (name: string) => boolean = () => true): TrainableModel {
  const variables: tf.Variable[] = [];
  const weights = mapWeights(model, <T extends tf.Tensor>(t: T, name: string): T => {
    if (!select(name)) return t;
    const x = tf.variable(t, true, name);
    variables.push(x);
    return x as unknown as T;
  });
  return { model: { ...model, weights }, variables };
}
