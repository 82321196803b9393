// Llama (1/2/3/3.x): pre-norm blocks, SwiGLU, GQA, optional attention/MLP biases, llama3 rope scaling.
// No axes of its own; the shared decoder does the math.
import type { Family } from './family.ts';

export const llama: Family = {
  name: 'llama',
  modelTypes: ['llama'],
  // LlamaConfig (num_key_value_heads: num_attention_heads when absent, as there)
  configDefaults: {
    vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, hidden_act: 'silu',
    max_position_embeddings: 2048, rms_norm_eps: 1e-6, tie_word_embeddings: false, rope_theta: 10_000, attention_bias: false, mlp_bias: false,
  },
  quirks: () => ({ qkNorm: false, normPlusOne: false, sandwichNorms: false, tieDefault: false }),
};
