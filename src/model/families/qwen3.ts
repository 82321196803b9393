// Qwen3: Llama blocks with RMSNorm on q and k per head (before rope), explicit head_dim, no q/k/v bias by default.
// No axes of its own; the shared decoder does the math.
import type { Family } from './family.ts';

export const qwen3: Family = {
  name: 'qwen3',
  modelTypes: ['qwen3'],
  // Qwen3Config
  configDefaults: {
    vocab_size: 151936, hidden_size: 4096, intermediate_size: 22016, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32,
    head_dim: 128, hidden_act: 'silu', max_position_embeddings: 32768, rms_norm_eps: 1e-6, tie_word_embeddings: false, rope_theta: 10_000,
    attention_bias: false, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28,
  },
  quirks: () => ({ qkNorm: true, normPlusOne: false, sandwichNorms: false, tieDefault: false }),
};
