// Writes a model as an HF checkpoint folder: config.json, model.safetensors (HF names, [out, in] weights) and the
// tokenizer files of its source folder. Axes: our kernels [in, out] are transposed back to HF's [out, in].
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DenseLinear, LINEAR_NAMES, ATTN_LINEARS, type Model } from './modules.ts';
import { writeSafetensors, type HostTensor } from './safetensors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { readValues } from '../util/tensors.ts';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'special_tokens_map.json', 'generation_config.json'];

export interface SaveModelOptions {
  dtype?: 'F32' | 'BF16' | 'F16';
  /** Folder whose tokenizer files are copied (default: the model's source). */
  tokenizerFrom?: string;
  /** Extra keys merged into config.json (e.g. provenance). */
  configExtra?: Record<string, unknown>;
}

/** Saves file by file, each atomically; adapters must be merged first (a wrapped linear is an error). */
export function saveModel(model: Model, dir: string, o: SaveModelOptions = {}): void {
  const dtype = o.dtype ?? 'F32';
  const cfg = model.config;
  const tensors: Record<string, HostTensor> = {};
  const put = (name: string, t: tf.Tensor, transpose = false) => {
    const data = transpose ? readValues(() => t.transpose()) : (t.dataSync() as Float32Array);
    tensors[name] = { dtype, shape: transpose ? [...t.shape].reverse() : [...t.shape], data };
  };
  const w = model.weights;
  put('model.embed_tokens.weight', w.embed);
  w.blocks.forEach((b, l) => {
    const p = `model.layers.${l}.`;
    for (const n of LINEAR_NAMES) {
      const lin = b.linears[n];
      if (!(lin instanceof DenseLinear)) throw new Error(`saveModel: ${p}${n} carries an adapter; merge it first`);
      const mod = ATTN_LINEARS.includes(n) ? 'self_attn' : 'mlp';
      put(`${p}${mod}.${n}.weight`, lin.w, true);
      if (lin.b) put(`${p}${mod}.${n}.bias`, lin.b);
    }
    put(`${p}input_layernorm.weight`, b.inputNorm);
    if (b.qNorm) put(`${p}self_attn.q_norm.weight`, b.qNorm);
    if (b.kNorm) put(`${p}self_attn.k_norm.weight`, b.kNorm);
    if (cfg.sandwichNorms) {
      put(`${p}post_attention_layernorm.weight`, b.postAttnNorm!);
      put(`${p}pre_feedforward_layernorm.weight`, b.preMlpNorm);
      put(`${p}post_feedforward_layernorm.weight`, b.postMlpNorm!);
    } else {
      put(`${p}post_attention_layernorm.weight`, b.preMlpNorm);
    }
  });
  put('model.norm.weight', w.finalNorm);
  if (w.lmHead) put('lm_head.weight', w.lmHead, true);
  const config = { ...cfg.raw, dtype: { F32: 'float32', BF16: 'bfloat16', F16: 'float16' }[dtype], ...(o.configExtra ?? {}) };
  delete (config as Record<string, unknown>).torch_dtype;
  // file by file, each atomic, so other files in the folder (a README card) stay
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  writeJsonAtomic(join(dir, 'config.json'), config);
  const from = o.tokenizerFrom ?? model.source;
  if (from && resolve(from) !== resolve(dir)) {
    for (const f of TOKENIZER_FILES) if (existsSync(join(from, f))) writeFileAtomic(join(dir, f), readFileSync(join(from, f)));
  }
}
