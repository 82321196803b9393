// Qwen2 / Qwen2.5: Llama blocks with biases on q, k and v (none on o), optional sliding window past max_window_layers.
// No axes of its own; the shared decoder does the math.
import type { Family } from './family.ts';

export const qwen2: Family = {
  name: 'qwen2',
  modelTypes: ['qwen2'],
  // Qwen2Config
  configDefaults: {
    vocab_size: 151936, hidden_size: 4096, intermediate_size: 22016, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32,
    hidden_act: 'silu', max_position_embeddings: 32768, rms_norm_eps: 1e-6, tie_word_embeddings: false, rope_theta: 10_000,
    use_sliding_window: false, sliding_window: 4096, max_window_layers: 28,
  },
  quirks: () => ({ qkvBias: true, oBias: false, qkNorm: false, normPlusOne: false, sandwichNorms: false, tieDefault: false }),
};
