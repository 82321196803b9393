// Gemma 3 (text): Gemma 2's blocks plus (1+w) q/k norms, local rope base on sliding layers, scaling on global ones;
// attn_logit_softcapping is read but not applied, as in HF. Multimodal checkpoints load their text part.
import type { Family } from './family.ts';

export const gemma3: Family = {
  name: 'gemma3',
  modelTypes: ['gemma3_text', 'gemma3'],
  // Gemma3TextConfig
  configDefaults: {
    vocab_size: 262208, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4,
    head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 131072, rms_norm_eps: 1e-6, pad_token_id: 0,
    eos_token_id: 1, bos_token_id: 2, tie_word_embeddings: true, rope_theta: 1_000_000, attention_bias: false, query_pre_attn_scalar: 256,
    sliding_window: 4096, final_logit_softcapping: null, attn_logit_softcapping: null, rope_local_base_freq: 10_000, sliding_window_pattern: 6,
  },
  quirks: () => ({ qkNorm: true, normPlusOne: true, sandwichNorms: true, tieDefault: true, localRopeDefault: 10000 }),
};
