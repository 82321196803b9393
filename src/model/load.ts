// Loads an HF-format model folder (config.json + safetensors, single or sharded) into tfjs tensors.
// All checkpoint quirks live here: name prefixes, [out, in] → [in, out] transposes, tied heads, dtype widening.
import * as tf from '@tensorflow/tfjs';
import { loadConfig, type ModelConfig } from './config.ts';
import { Checkpoint } from './safetensors.ts';
import { DenseLinear, LINEAR_NAMES, modelTensors as modelTensorsOf, type Block, type Linear, type LinearName, type Model } from './modules.ts';
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { resolveLocalOrHub } from './hub-cache.ts';

const ATTN = new Set<LinearName>(['q_proj', 'k_proj', 'v_proj', 'o_proj']);

/**
 * Loads a model folder, or a hub id (ORG/NAME[@REV]) from the local Hugging Face cache; a folder on disk always wins.
 * `param`: the caller's name for `path`, which an error carries.
 */
export function loadModel(path: string, param = 'path'): Model {
  const dir = resolveLocalOrHub(path, param);
  if (!dir) throw new EmlensError(param, 'model folder not found', { value: path });
  const config = loadConfig(dir);
  const ckpt = Checkpoint.open(dir);
  tf.engine().startScope();
  try {
    const weightPrefix = findPrefix(ckpt);
    const weights = readWeights(config, ckpt, weightPrefix);
    tf.engine().endScope(modelTensorsOf(weights));
    return { config, weights, source: dir, adapters: [], weightPrefix };
  } catch (e) {
    tf.engine().endScope(); // frees whatever was read before the failure
    throw e;
  } finally {
    ckpt.close();
  }
}

/** The prefix in front of `embed_tokens.weight`: "model." for CausalLM, other forms for multimodal Gemma 3. */
function findPrefix(ckpt: Checkpoint): string {
  const hit = ckpt.names().find((n) => n.endsWith('embed_tokens.weight'));
  if (!hit) throw new UserError(`${ckpt.dir}: missing weight model.embed_tokens.weight`);
  return hit.slice(0, -'embed_tokens.weight'.length);
}

const FLOAT_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16']);

function readWeights(cfg: ModelConfig, ckpt: Checkpoint, prefix: string): Model['weights'] {
  const tensor = (name: string, shape: number[]): tf.Tensor => {
    const info = ckpt.info(name);
    if (info.shape.join() !== shape.join()) throw new UserError(`${ckpt.dir}: weight ${name} has shape [${info.shape}], config implies [${shape}]`);
    // integer weights are quantized ones (int8 next to their scales): widened as floats they would run as garbage
    if (!FLOAT_DTYPES.has(info.dtype)) throw new UserError(`${ckpt.dir}: weight ${name} is ${info.dtype}, a quantized checkpoint; load the unquantized weights (F32, F16 or BF16)`);
    return tf.tensor(ckpt.readF32(name), shape, 'float32');
  };
  const vec = (name: string, n: number) => tensor(name, [n]) as tf.Tensor1D;
  /** HF Linear weight [out, in] → kernel [in, out]. */
  const kernel = (name: string, out: number, inn: number) => tf.tidy(() => tensor(name, [out, inn]).transpose() as tf.Tensor2D);
  const { dModel, nHeads, nKvHeads, dHead, dMlp, vocab } = cfg;
  const dims: Record<LinearName, [number, number]> = {
    q_proj: [nHeads * dHead, dModel],
    k_proj: [nKvHeads * dHead, dModel],
    v_proj: [nKvHeads * dHead, dModel],
    o_proj: [dModel, nHeads * dHead],
    gate_proj: [dMlp, dModel],
    up_proj: [dMlp, dModel],
    down_proj: [dModel, dMlp],
  };
  const hasBias = (n: LinearName) => (n === 'o_proj' ? cfg.oBias : ATTN.has(n) ? cfg.qkvBias : cfg.mlpBias);
  const embed = tensor(`${prefix}embed_tokens.weight`, [vocab, dModel]) as tf.Tensor2D;
  const blocks: Block[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `${prefix}layers.${l}.`;
    const linears = {} as Record<LinearName, Linear>;
    for (const n of LINEAR_NAMES) {
      const mod = ATTN.has(n) ? 'self_attn' : 'mlp';
      const [out, inn] = dims[n];
      const w = kernel(`${p}${mod}.${n}.weight`, out, inn);
      const b = hasBias(n) ? vec(`${p}${mod}.${n}.bias`, out) : undefined;
      linears[n] = new DenseLinear(w, b);
    }
    blocks.push({
      inputNorm: vec(`${p}input_layernorm.weight`, dModel),
      linears,
      qNorm: cfg.qkNorm ? vec(`${p}self_attn.q_norm.weight`, dHead) : undefined,
      kNorm: cfg.qkNorm ? vec(`${p}self_attn.k_norm.weight`, dHead) : undefined,
      // Gemma's post_attention_layernorm follows attention; Llama's precedes the MLP.
      postAttnNorm: cfg.sandwichNorms ? vec(`${p}post_attention_layernorm.weight`, dModel) : undefined,
      preMlpNorm: vec(`${p}${cfg.sandwichNorms ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}.weight`, dModel),
      postMlpNorm: cfg.sandwichNorms ? vec(`${p}post_feedforward_layernorm.weight`, dModel) : undefined,
    });
  }
  const finalNorm = vec(`${prefix}norm.weight`, dModel);
  const headName = ckpt.names().find((n) => n.endsWith('lm_head.weight'));
  const lmHead = cfg.tieEmbeddings ? undefined : kernel(headName ?? 'lm_head.weight', vocab, dModel);
  return { embed, blocks, finalNorm, lmHead };
}
