// config.json parsing: both rope forms (rope_theta + rope_scaling, transformers-5 rope_parameters incl. per layer type),
// rope scaling maths, layer-type patterns, family quirks, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../src/model/config.ts';
import { tinyChatModelDir } from '../helpers.ts';
import { inverseFrequencies } from '../../src/model/rope.ts';

const base = { hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 4, intermediate_size: 128, vocab_size: 100 };

test('rope_theta (transformers 4) and rope_parameters (transformers 5) give the same spec', () => {
  const a = parseConfig({ ...base, model_type: 'llama', rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
  const b = parseConfig({ ...base, model_type: 'llama', rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
  assert.deepEqual(a.rope, b.rope);
  assert.equal(a.rope.full.type, 'llama3');
  assert.equal(a.rope.full.theta, 500000);
  // the older "type" key is accepted too
  const c = parseConfig({ ...base, model_type: 'llama', rope_theta: 10000, rope_scaling: { type: 'linear', factor: 2 } });
  assert.equal(c.rope.full.type, 'linear');
});

test('per-layer-type rope_parameters (Gemma 3, transformers 5)', () => {
  const cfg = parseConfig({
    ...base, model_type: 'gemma3_text', head_dim: 16, query_pre_attn_scalar: 16, sliding_window: 4,
    layer_types: ['sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention'],
    rope_parameters: { full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 10000 } },
  });
  assert.deepEqual(cfg.layerTypes, ['sliding', 'sliding', 'sliding', 'full']);
  assert.equal(cfg.rope.full.theta, 1e6);
  assert.equal(cfg.rope.full.factor, 8);
  assert.equal(cfg.rope.sliding.theta, 10000);
  assert.equal(cfg.rope.sliding.type, 'default');
  assert.equal(cfg.attnScale, 0.25);
  assert.equal(cfg.embedScale, 8);
  assert.ok(cfg.normPlusOne && cfg.qkNorm && cfg.sandwichNorms && cfg.tieEmbeddings);
});

test('Gemma 3 (transformers 4): rope_local_base_freq, sliding_window_pattern, scaling only on global layers', () => {
  const cfg = parseConfig({ ...base, num_hidden_layers: 6, model_type: 'gemma3_text', head_dim: 16, sliding_window: 8, sliding_window_pattern: 3, rope_theta: 1e6, rope_local_base_freq: 10000, rope_scaling: { rope_type: 'linear', factor: 8 } });
  assert.deepEqual(cfg.layerTypes, ['sliding', 'sliding', 'full', 'sliding', 'sliding', 'full']);
  assert.deepEqual(cfg.rope.sliding, { type: 'default', theta: 10000 });
  assert.equal(cfg.rope.full.type, 'linear');
});

test('multimodal Gemma 3 configs load their text_config', () => {
  const cfg = parseConfig({ model_type: 'gemma3', text_config: { ...base, model_type: 'gemma3_text', head_dim: 16, sliding_window: 4 } });
  assert.equal(cfg.family, 'gemma3');
  assert.equal(cfg.dModel, 64);
});

test('Gemma 2 alternates sliding and full layers; softcaps and query_pre_attn_scalar are read', () => {
  const cfg = parseConfig({ ...base, model_type: 'gemma2', head_dim: 16, query_pre_attn_scalar: 256, sliding_window: 4, attn_logit_softcapping: 50, final_logit_softcapping: 30, hidden_activation: 'gelu_pytorch_tanh' });
  assert.deepEqual(cfg.layerTypes, ['sliding', 'full', 'sliding', 'full']);
  assert.equal(cfg.attnSoftcap, 50);
  assert.equal(cfg.finalSoftcap, 30);
  assert.equal(cfg.attnScale, 1 / 16);
  assert.equal(cfg.act, 'gelu_tanh');
});

test('family quirks: qwen2 q/k/v bias, qwen3 q/k norm and head_dim, llama attention_bias', () => {
  const q2 = parseConfig({ ...base, model_type: 'qwen2' });
  assert.ok(q2.qkvBias && !q2.oBias && !q2.qkNorm);
  const q3 = parseConfig({ ...base, model_type: 'qwen3', head_dim: 32 });
  assert.ok(q3.qkNorm && !q3.qkvBias);
  assert.equal(q3.dHead, 32);
  const ll = parseConfig({ ...base, model_type: 'llama', attention_bias: true });
  assert.ok(ll.qkvBias && ll.oBias);
});

test('linear scaling divides, dynamic grows the base only past the original context, llama3 keeps high frequencies', () => {
  const plain = inverseFrequencies({ type: 'default', theta: 10000 }, 16, 64, 10);
  const lin = inverseFrequencies({ type: 'linear', theta: 10000, factor: 4 }, 16, 64, 10);
  lin.forEach((v, i) => assert.ok(Math.abs(v - plain[i] / 4) < 1e-9));
  assert.deepEqual(inverseFrequencies({ type: 'dynamic', theta: 10000, factor: 2 }, 16, 64, 63), plain);
  const dyn = inverseFrequencies({ type: 'dynamic', theta: 10000, factor: 2 }, 16, 64, 127);
  assert.ok(dyn[1] < plain[1]);
  const l3 = inverseFrequencies({ type: 'llama3', theta: 500000, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 }, 16, 256, 10);
  const p3 = inverseFrequencies({ type: 'default', theta: 500000 }, 16, 256, 10);
  assert.equal(l3[0], p3[0]); // wavelength 2π < 16: untouched
  assert.ok(Math.abs(l3[7] - p3[7] / 8) < 1e-12); // longest wavelength: divided by the factor
});

test('unknown model_type and unsupported rope types are clear errors', () => {
  assert.throws(() => parseConfig({ ...base, model_type: 'gpt2' }, 'x/config.json'), /x\/config\.json: unsupported model_type "gpt2"/);
  assert.throws(() => parseConfig({ ...base, model_type: 'llama', rope_scaling: { rope_type: 'yarn', factor: 4 } }), /unsupported rope type "yarn"/);
  assert.throws(() => parseConfig({ ...base, model_type: 'llama', hidden_size: undefined }), /missing number "hidden_size"/);
  assert.throws(() => parseConfig({ ...base, model_type: 'llama', num_key_value_heads: 3 }), /not a multiple/);
});

test("a multimodal Gemma 3 config as Google ships it (text_config holds only what differs from Gemma3TextConfig's defaults)", () => {
  // google/gemma-3-4b-it's config.json, vision_config left out
  const cfg = parseConfig({
    architectures: ['Gemma3ForConditionalGeneration'], boi_token_index: 255999, eoi_token_index: 256000, eos_token_id: [1, 106], image_token_index: 262144,
    initializer_range: 0.02, mm_tokens_per_image: 256, model_type: 'gemma3',
    text_config: { hidden_size: 2560, intermediate_size: 10240, model_type: 'gemma3_text', num_hidden_layers: 34, rope_scaling: { factor: 8.0, rope_type: 'linear' }, sliding_window: 1024 },
    torch_dtype: 'bfloat16',
  });
  assert.deepEqual([cfg.dModel, cfg.dMlp, cfg.nLayers, cfg.nHeads, cfg.nKvHeads, cfg.dHead, cfg.vocab], [2560, 10240, 34, 8, 4, 256, 262208]);
  assert.equal(cfg.act, 'gelu_tanh');
  assert.equal(cfg.attnScale, 256 ** -0.5);
  assert.deepEqual(cfg.rope.full, { type: 'linear', theta: 1e6, factor: 8, lowFreqFactor: undefined, highFreqFactor: undefined, originalMaxPositions: undefined });
  assert.deepEqual(cfg.rope.sliding, { type: 'default', theta: 10000 });
  assert.equal(cfg.maxPositions, 131072);
  assert.deepEqual(cfg.eosTokenIds, [1, 106], 'the composite config keeps the ids at its top level');
  assert.equal(cfg.layerTypes.filter((t) => t === 'full').length, 5, 'every sixth layer global');
});

test('what would run wrong is refused: quantized weights, bidirectional attention, scaled rope without its parameters; Qwen2 windows from layer 28', () => {
  assert.throws(() => parseConfig({ ...base, model_type: 'llama', quantization_config: { quant_method: 'bitsandbytes', load_in_8bit: true } }), /quantized checkpoint \("bitsandbytes"\)/);
  assert.throws(() => parseConfig({ ...base, model_type: 'gemma3_text', head_dim: 16, use_bidirectional_attention: true }), /use_bidirectional_attention/);
  assert.throws(() => parseConfig({ ...base, model_type: 'llama', rope_scaling: { rope_type: 'llama3', factor: 8 } }), /rope type "llama3" needs low_freq_factor, high_freq_factor, original_max_position_embeddings/);
  assert.throws(() => parseConfig({ ...base, model_type: 'llama', rope_scaling: { rope_type: 'dynamic' } }), /rope type "dynamic" needs factor/);
  const q = parseConfig({ ...base, num_hidden_layers: 30, model_type: 'qwen2', use_sliding_window: true, sliding_window: 16 });
  assert.deepEqual([q.layerTypes.indexOf('sliding'), q.layerTypes.filter((t) => t === 'sliding').length], [28, 2], "transformers' max_window_layers default");
});

test("generation_config.json's eos_token_id stops generation too, as in HF generate", () => {
  const dir = tinyChatModelDir();
  const before = loadConfig(dir).eosTokenIds;
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [1, 77] }));
  assert.deepEqual(loadConfig(dir).eosTokenIds.sort((a, b) => a - b), [...new Set([...before, 1, 77])].sort((a, b) => a - b));
  writeFileSync(join(dir, 'generation_config.json'), '{"eos_token_id": [1,');
  assert.throws(() => loadConfig(dir), /generation_config\.json: not valid JSON/);
});
