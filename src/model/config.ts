// Parses an HF config.json into one normalised ModelConfig (sizes, quirks, per-layer attention type and rope).
// Holds every size the runtime uses: vocab, dModel, nLayers, nHeads, nKvHeads, dHead, dMlp.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/log.ts';
import { checkInt, checkNumber, optional } from '../util/validate.ts';
import { readTextFile } from '../util/fs.ts';
import type { RopeSpec } from './rope.ts';
import { familyFor, type FamilyName } from './families/registry.ts';

export type Activation = 'silu' | 'gelu_tanh' | 'gelu';
export type LayerType = 'full' | 'sliding';

export interface ModelConfig {
  family: FamilyName;
  modelType: string;
  vocab: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  dHead: number;
  dMlp: number;
  normEps: number;
  act: Activation;
  tieEmbeddings: boolean;
  /** Biases on q/k/v (qwen2, llama attention_bias) and on o (llama attention_bias). */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** RMSNorm on q and k over dHead before rope (qwen3, gemma3). */
  qkNorm: boolean;
  /** Gemma's norms multiply by (1 + w). */
  normPlusOne: boolean;
  /** Gemma2/3: norms after attention and after the MLP as well as before. */
  sandwichNorms: boolean;
  /** Multiplies the embedding output (Gemma: sqrt(dModel)). */
  embedScale: number;
  /** Multiplies q·k (dHead^-0.5, or query_pre_attn_scalar^-0.5 for Gemma). */
  attnScale: number;
  attnSoftcap?: number;
  finalSoftcap?: number;
  slidingWindow?: number;
  layerTypes: LayerType[];
  /** Rope per layer type. */
  rope: Record<LayerType, RopeSpec>;
  maxPositions: number;
  bosTokenId?: number;
  eosTokenIds: number[];
  padTokenId?: number;
  /** The parsed JSON the config came from (text part for multimodal Gemma 3). */
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

export function loadConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new UserError(`${dir}: no config.json (is this a Hugging Face model folder?)`);
  let raw: Json;
  try {
    raw = JSON.parse(readTextFile(path));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError(`${path}: expected a JSON object of settings`);
  const cfg = parseConfig(raw, path);
  // generation_config.json's end-of-turn ids stop generation as they do in HF generate (Gemma's <end_of_turn>, …)
  const gen = join(dir, 'generation_config.json');
  if (existsSync(gen)) {
    try {
      const eos = (JSON.parse(readFileSync(gen, 'utf8')) as Json).eos_token_id;
      const more = Array.isArray(eos) ? eos.map(Number) : typeof eos === 'number' ? [eos] : [];
      cfg.eosTokenIds = [...new Set([...cfg.eosTokenIds, ...more.filter(Number.isInteger)])];
    } catch (e) {
      throw new UserError(`${gen}: not valid JSON (${(e as Error).message})`);
    }
  }
  return cfg;
}

export function parseConfig(top: Json, where = 'config.json'): ModelConfig {
  // Multimodal Gemma 3 keeps the language model's settings under text_config, and only those that differ from
  // Gemma3TextConfig's defaults: each family's config-class defaults go under what the file says, as in transformers
  const given: Json = top.text_config ? { ...(top.text_config as Json) } : top;
  const modelType = String(given.model_type ?? top.model_type ?? '');
  const family = familyFor(modelType, where);
  // a composite config keeps the special-token ids and the tie flag at its top level
  const shared = top.text_config ? Object.fromEntries(['eos_token_id', 'bos_token_id', 'pad_token_id', 'tie_word_embeddings'].filter((k) => top[k] !== undefined).map((k) => [k, top[k]])) : {};
  const raw: Json = { ...family.configDefaults, ...shared, ...given };
  for (const q of [top.quantization_config, given.quantization_config]) {
    if (q) throw new UserError(`${where}: a quantized checkpoint (${JSON.stringify((q as Json).quant_method ?? 'quantization_config')}); load the unquantized weights (F32, F16 or BF16)`);
  }
  if (raw.use_bidirectional_attention === true) throw new UserError(`${where}: use_bidirectional_attention (an embedding model's non-causal attention) is not supported`);
  // every size is a positive integer, every scale a finite positive number: checked once here, naming the key
  const size = (k: string, dflt?: number): number => {
    if (raw[k] === undefined || raw[k] === null) {
      if (dflt !== undefined) return dflt;
      throw new UserError(`${where}: missing number "${k}"`);
    }
    return checkInt(raw[k], where, k, { min: 1 });
  };
  const positiveNum = (k: string, dflt: number): number => optional(raw[k], dflt, (v) => checkNumber(v, where, k, { min: 0, exclusiveMin: true }));
  const dModel = size('hidden_size');
  const nHeads = size('num_attention_heads');
  const nLayers = size('num_hidden_layers');
  const dHead = raw.head_dim === undefined || raw.head_dim === null ? dModel / nHeads : checkInt(raw.head_dim, where, 'head_dim', { min: 1 });
  for (const k of ['query_pre_attn_scalar', 'attn_logit_softcapping', 'final_logit_softcapping', 'rope_theta', 'rope_local_base_freq']) {
    if (raw[k] !== undefined && raw[k] !== null) checkNumber(raw[k], where, k, { min: 0, exclusiveMin: !k.includes('softcapping') });
  }
  if (raw.sliding_window !== undefined && raw.sliding_window !== null) checkInt(raw.sliding_window, where, 'sliding_window', { min: 0 });
  const q = family.quirks(raw);
  const layerTypes = parseLayerTypes(raw, nLayers, family.name, where);
  const ids = (v: unknown): number[] => (Array.isArray(v) ? v.map(Number) : typeof v === 'number' ? [v] : []);
  const cfg: ModelConfig = {
    family: family.name,
    modelType,
    vocab: size('vocab_size'),
    dModel,
    nLayers,
    nHeads,
    nKvHeads: size('num_key_value_heads', nHeads),
    dHead,
    dMlp: size('intermediate_size'),
    normEps: positiveNum('rms_norm_eps', 1e-6),
    act: parseActivation(raw.hidden_activation ?? raw.hidden_act ?? 'silu', where),
    tieEmbeddings: (raw.tie_word_embeddings ?? top.tie_word_embeddings ?? q.tieDefault) as boolean,
    qkvBias: q.qkvBias ?? Boolean(raw.attention_bias),
    oBias: q.oBias ?? Boolean(raw.attention_bias),
    mlpBias: Boolean(raw.mlp_bias),
    qkNorm: q.qkNorm,
    normPlusOne: q.normPlusOne,
    sandwichNorms: q.sandwichNorms,
    embedScale: q.normPlusOne ? Math.fround(Math.sqrt(dModel)) : 1,
    attnScale: (typeof raw.query_pre_attn_scalar === 'number' ? raw.query_pre_attn_scalar : dHead) ** -0.5,
    attnSoftcap: q.attnSoftcapping ? positive(raw.attn_logit_softcapping) : undefined,
    finalSoftcap: positive(raw.final_logit_softcapping),
    slidingWindow: positive(raw.sliding_window),
    layerTypes,
    rope: parseRope(raw, q.localRopeDefault, where),
    maxPositions: size('max_position_embeddings', 2048),
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : undefined,
    eosTokenIds: ids(raw.eos_token_id ?? top.eos_token_id),
    padTokenId: typeof raw.pad_token_id === 'number' ? raw.pad_token_id : undefined,
    raw,
  };
  if (!Number.isInteger(dHead)) throw new UserError(`${where}: hidden_size ${dModel} is not divisible by num_attention_heads ${nHeads}`);
  if (cfg.nHeads % cfg.nKvHeads) throw new UserError(`${where}: num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${cfg.nKvHeads}`);
  if (cfg.layerTypes.includes('sliding') && !cfg.slidingWindow) throw new UserError(`${where}: sliding layers but no sliding_window`);
  return cfg;
}

function positive(v: unknown): number | undefined {
  return typeof v === 'number' && v > 0 ? v : undefined;
}

function parseActivation(v: unknown, where: string): Activation {
  switch (v) {
    case 'silu':
    case 'swish':
      return 'silu';
    case 'gelu_pytorch_tanh':
    case 'gelu_new':
    case 'gelu_fast':
      return 'gelu_tanh';
    case 'gelu':
      return 'gelu';
    default:
      throw new UserError(`${where}: unsupported activation ${JSON.stringify(v)}`);
  }
}

function parseLayerTypes(raw: Json, nLayers: number, family: FamilyName, where: string): LayerType[] {
  const toType = (s: unknown): LayerType => {
    if (s === 'full_attention') return 'full';
    if (s === 'sliding_attention') return 'sliding';
    throw new UserError(`${where}: unknown layer type ${JSON.stringify(s)}`);
  };
  if (Array.isArray(raw.layer_types)) {
    if (raw.layer_types.length !== nLayers) throw new UserError(`${where}: layer_types has ${raw.layer_types.length} entries for ${nLayers} layers`);
    return raw.layer_types.map(toType);
  }
  const all = (f: (i: number) => LayerType) => Array.from({ length: nLayers }, (_, i) => f(i));
  if (family === 'gemma2') return all((i) => ((i + 1) % 2 ? 'sliding' : 'full'));
  if (family === 'gemma3') {
    const pattern = typeof raw.sliding_window_pattern === 'number' ? raw.sliding_window_pattern : 6;
    return all((i) => ((i + 1) % pattern ? 'sliding' : 'full'));
  }
  if ((family === 'qwen2' || family === 'qwen3') && raw.use_sliding_window && raw.sliding_window) {
    const maxWindowLayers = typeof raw.max_window_layers === 'number' ? raw.max_window_layers : nLayers;
    return all((i) => (i >= maxWindowLayers ? 'sliding' : 'full'));
  }
  return all(() => 'full');
}

/** Reads `rope_parameters` (transformers 5, flat or per layer type) or `rope_theta` + `rope_scaling` (transformers 4). */
function parseRope(raw: Json, localDefaultTheta: number | undefined, where: string): Record<LayerType, RopeSpec> {
  const params = raw.rope_parameters as Json | undefined;
  if (params && (params.full_attention || params.sliding_attention)) {
    const full = toSpec(params.full_attention as Json ?? params.sliding_attention as Json, undefined, where);
    const sliding = toSpec(params.sliding_attention as Json ?? params.full_attention as Json, undefined, where);
    return { full, sliding };
  }
  const theta = typeof raw.rope_theta === 'number' ? raw.rope_theta : undefined;
  const global = toSpec(params ?? (raw.rope_scaling as Json | undefined) ?? {}, theta, where);
  const localTheta = typeof raw.rope_local_base_freq === 'number' ? raw.rope_local_base_freq : localDefaultTheta;
  // Gemma 3: sliding layers use the local base and no scaling.
  const sliding = localTheta !== undefined ? { type: 'default' as const, theta: localTheta } : global;
  return { full: global, sliding };
}

function toSpec(p: Json, thetaFallback: number | undefined, where: string): RopeSpec {
  const type = String(p.rope_type ?? p.type ?? 'default');
  const theta = typeof p.rope_theta === 'number' ? p.rope_theta : thetaFallback ?? 10000;
  const num = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
  for (const k of ['rope_theta', 'factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings']) {
    if (p[k] !== undefined && p[k] !== null) checkNumber(p[k], where, `rope ${k}`, { min: 0, exclusiveMin: true });
  }
  if (type !== 'default' && type !== 'linear' && type !== 'llama3' && type !== 'dynamic') {
    throw new UserError(`${where}: unsupported rope type "${type}" (supported: default, linear, llama3, dynamic)`);
  }
  // what transformers requires of each scaled type (it raises where a key is missing; a silent default would not)
  const required = type === 'llama3' ? ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'] : type === 'default' ? [] : ['factor'];
  const missing = required.filter((k) => typeof p[k] !== 'number');
  if (missing.length) throw new UserError(`${where}: rope type "${type}" needs ${missing.join(', ')}`);
  return {
    type,
    theta,
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositions: num('original_max_position_embeddings'),
  };
}
