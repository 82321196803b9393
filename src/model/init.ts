// Builds a randomly initialised model for a config (benchmarks, tests, and the organism's pretraining start).
// Axes as in modules.ts: kernels [in, out], embed [vocab, dModel], norms [dModel] / [dHead].
import * as tf from '@tensorflow/tfjs';
import { parseConfig, type ModelConfig } from './config.ts';
import { tfSeed } from '../util/rng.ts';
import { DenseLinear, LINEAR_NAMES, type Block, type Linear, type LinearName, type Model } from './modules.ts';

/** Normal(0, std) weights from a seed (generated on the host, so every backend gets the same numbers); norms at identity. */
export function initModel(config: ModelConfig, seed = 0, std = 0.02): Model {
  let s = seed;
  const normal = (shape: number[]) => tf.randomNormal(shape, 0, std, 'float32', tfSeed(s++));
  const { dModel, nHeads, nKvHeads, dHead, dMlp, vocab } = config;
  const normInit = (n: number) => (config.normPlusOne ? tf.zeros([n]) : tf.ones([n])) as tf.Tensor1D;
  const dims: Record<LinearName, [number, number]> = {
    q_proj: [dModel, nHeads * dHead],
    k_proj: [dModel, nKvHeads * dHead],
    v_proj: [dModel, nKvHeads * dHead],
    o_proj: [nHeads * dHead, dModel],
    gate_proj: [dModel, dMlp],
    up_proj: [dModel, dMlp],
    down_proj: [dMlp, dModel],
  };
  const bias = (n: LinearName, out: number) => {
    const has = n === 'o_proj' ? config.oBias : ['q_proj', 'k_proj', 'v_proj'].includes(n) ? config.qkvBias : config.mlpBias;
    return has ? (tf.zeros([out]) as tf.Tensor1D) : undefined;
  };
  const blocks: Block[] = Array.from({ length: config.nLayers }, () => {
    const linears = {} as Record<LinearName, Linear>;
    for (const n of LINEAR_NAMES) linears[n] = new DenseLinear(normal(dims[n]) as tf.Tensor2D, bias(n, dims[n][1]));
    return {
      inputNorm: normInit(dModel),
      linears,
      qNorm: config.qkNorm ? normInit(dHead) : undefined,
      kNorm: config.qkNorm ? normInit(dHead) : undefined,
      postAttnNorm: config.sandwichNorms ? normInit(dModel) : undefined,
      preMlpNorm: normInit(dModel),
      postMlpNorm: config.sandwichNorms ? normInit(dModel) : undefined,
    };
  });
  return {
    config,
    weights: {
      embed: normal([vocab, dModel]) as tf.Tensor2D,
      blocks,
      finalNorm: normInit(dModel),
      lmHead: config.tieEmbeddings ? undefined : (normal([dModel, vocab]) as tf.Tensor2D),
    },
    adapters: [],
  };
}

/** Real architectures' shapes (as ../shared/bench/torch_ref.py builds them) for benchmarks. */
export const SHAPES: Record<string, Record<string, unknown>> = {
  'qwen2.5-0.5b': { model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, tie_word_embeddings: true, rope_theta: 1000000, max_position_embeddings: 32768 },
  'qwen2.5-1.5b': { model_type: 'qwen2', hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2, vocab_size: 151936, tie_word_embeddings: true, rope_theta: 1000000, max_position_embeddings: 32768 },
  'llama-3.2-1b': { model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, tie_word_embeddings: true, rope_theta: 500000, max_position_embeddings: 131072 },
};

export function shapeConfig(name: string): ModelConfig {
  const raw = SHAPES[name];
  if (!raw) throw new Error(`unknown shape ${name} (known: ${Object.keys(SHAPES).join(', ')})`);
  return parseConfig(raw, name);
}
