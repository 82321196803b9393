// Gemma 2: (1+w) RMSNorms before and after attention and MLP, sqrt(dModel) embedding scale, GeGLU (tanh),
// query_pre_attn_scalar, attention and final logit softcapping, alternating sliding/full layers. Tied embeddings.
import type { Family } from './family.ts';

export const gemma2: Family = {
  name: 'gemma2',
  modelTypes: ['gemma2'],
  // Gemma2Config
  configDefaults: {
    vocab_size: 256000, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4,
    head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 8192, rms_norm_eps: 1e-6, pad_token_id: 0,
    eos_token_id: 1, bos_token_id: 2, tie_word_embeddings: true, rope_theta: 10_000, attention_bias: false, query_pre_attn_scalar: 256,
    sliding_window: 4096, final_logit_softcapping: 30.0, attn_logit_softcapping: 50.0,
  },
  quirks: () => ({ qkNorm: false, normPlusOne: true, sandwichNorms: true, tieDefault: true, attnSoftcapping: true }),
};
