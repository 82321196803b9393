// LoRA as PEFT defines it: y = base(x) + scale · B(A(dropout(x))), wrapped around a model's linears without changing
// the base. Axes: A [in, r], B [r, out] (PEFT stores lora_A.weight [r, in], lora_B.weight [out, r]); x [..., in].
import * as tf from '@tensorflow/tfjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, writeSafetensors, type HostTensor } from '../model/safetensors.ts';
import { DenseLinear, LINEAR_NAMES, type Block, type Linear, type LinearName, type Model } from '../model/modules.ts';
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { newVariable, readValues, variablesIn } from '../util/tensors.ts';
import { isTargeted, moduleRankAndScale, modulePath, peftConfigJson, readLoraConfig, type LoraConfig } from './peft-config.ts';

/** Dropout on the LoRA input while training: rate and a seed source (one seed per call, so runs repeat). */
export interface LoraDropout {
  rate: number;
  nextSeed: () => number;
}

export class LoraLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(readonly base: Linear, readonly A: tf.Tensor2D, readonly B: tf.Tensor2D, readonly scale: number, readonly dropout?: LoraDropout) {
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      let x2 = x.reshape([-1, this.inFeatures]) as tf.Tensor2D; // [N, in]
      if (this.dropout && this.dropout.rate > 0) x2 = tf.dropout(x2, this.dropout.rate, undefined, this.dropout.nextSeed()) as tf.Tensor2D;
      const delta = tf.matMul(tf.matMul(x2, this.A), this.B).mul(this.scale); // [N, out]
      return tf.add(this.base.apply(x), delta.reshape([...lead, this.outFeatures]));
    });
  }

  ownTensors(): tf.Tensor[] {
    return [this.A, this.B];
  }
}

export interface LoraModule {
  layer: number;
  module: LinearName;
  A: tf.Tensor2D; // [in, r]
  B: tf.Tensor2D; // [r, out]
  scale: number;
}

/** A set of LoRA weights keyed by "layer.module", plus the PEFT config it came from. */
export interface LoraAdapter {
  config: LoraConfig;
  name: string;
  modules: Map<string, LoraModule>;
}

export interface LoraOptions {
  r: number;
  alpha: number;
  rslora?: boolean;
  targets: LinearName[];
  /** Blocks to adapt (default: all). */
  layers?: number[];
  dropout?: number;
  seed?: number;
}

/**
 * A fresh, trainable LoRA: A from PEFT's default init (kaiming-uniform with a = √5, i.e. U(±1/√in)), B = 0,
 * so the adapted model equals the base exactly. A and B are tf.Variables.
 */
export function createLora(model: Model, o: LoraOptions): LoraAdapter {
  const { nLayers } = model.config;
  const layers = o.layers ?? Array.from({ length: nLayers }, (_, l) => l);
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= nLayers) throw new EmlensError('options.layers', `layer ${l} is out of range (0..${nLayers - 1})`);
  for (const t of o.targets) if (!LINEAR_NAMES.includes(t)) throw new EmlensError('options.targets', `unknown module ${t} (choose from ${LINEAR_NAMES.join(', ')})`);
  if (!Number.isInteger(o.r) || o.r < 1) throw new EmlensError('options.r', 'expected a positive integer', { value: o.r });
  const config = { ...defaultLoraConfig(o, layers), modulePrefix: model.weightPrefix ?? 'model.' };
  const rng = new Rng(o.seed ?? 0);
  const modules = new Map<string, LoraModule>();
  for (const layer of layers) {
    for (const module of o.targets) {
      const base = model.weights.blocks[layer].linears[module];
      const bound = 1 / Math.sqrt(base.inFeatures);
      const a = new Float32Array(base.inFeatures * o.r).map(() => (2 * rng.next() - 1) * bound);
      const { scale } = moduleRankAndScale(config, layer, module);
      modules.set(`${layer}.${module}`, {
        layer, module, scale,
        A: newVariable(() => tf.tensor2d(a, [base.inFeatures, o.r]), `lora.${layer}.${module}.A`),
        B: newVariable(() => tf.zeros([o.r, base.outFeatures]) as tf.Tensor2D, `lora.${layer}.${module}.B`),
      });
    }
  }
  return { config, name: 'lora', modules };
}

function defaultLoraConfig(o: LoraOptions, layers: number[]): LoraConfig {
  return {
    r: o.r,
    loraAlpha: o.alpha,
    useRslora: Boolean(o.rslora),
    targetModules: [...o.targets],
    layersToTransform: [...layers],
    loraDropout: o.dropout ?? 0,
    rankPattern: {},
    alphaPattern: {},
    raw: {},
  };
}

/** base_model.model.<prefix>layers.N.(self_attn|mlp).<module>.lora_(A|B)[.<adapter name>].weight */
const TENSOR_RE = /^base_model\.model\.(.*?)layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.[\w-]+)?\.weight$/;

/** Reads a PEFT adapter folder (adapter_config.json + adapter_model.safetensors). */
export function loadLora(dir: string, model: Model): LoraAdapter {
  const prefix = model.weightPrefix ?? 'model.';
  const config = { ...readLoraConfig(dir), modulePrefix: prefix };
  const ckpt = Checkpoint.open(dir, 'adapter_model.safetensors');
  const found = new Map<string, { A?: string; B?: string }>();
  try {
    for (const name of ckpt.names()) {
      const m = TENSOR_RE.exec(name);
      if (!m) throw new UserError(`${dir}: adapter tensor ${name} is not a LoRA A/B weight of a decoder linear`);
      // another tower's layers (a vision encoder's) share the "layers.N" shape but not the language model's prefix
      if (m[1] !== prefix) throw new UserError(`${dir}: adapter tensor ${name} is not on this model's decoder layers (${prefix}layers.N)`);
      const key = `${m[2]}.${m[3]}`;
      if (found.get(key)?.[m[4] as 'A' | 'B']) throw new UserError(`${dir}: two lora_${m[4]} tensors for ${modulePath(Number(m[2]), m[3] as LinearName, prefix)}`);
      found.set(key, { ...found.get(key), [m[4]]: name });
    }
    const { nLayers } = model.config;
    const modules: LoraAdapter['modules'] = new Map();
    tf.engine().startScope();
    try {
      for (const [key, { A, B }] of found) {
        const [layerS, module] = key.split('.') as [string, LinearName];
        const layer = Number(layerS);
        if (!LINEAR_NAMES.includes(module)) throw new UserError(`${dir}: LoRA on unsupported module ${module}`);
        if (layer >= nLayers) throw new UserError(`${dir}: LoRA on layer ${layer}, but the model has ${nLayers} layers`);
        if (!A || !B) throw new UserError(`${dir}: ${modulePath(layer, module, prefix)} has lora_${A ? 'B' : 'A'} missing`);
        if (!isTargeted(config, layer, module)) throw new UserError(`${dir}: weights for ${modulePath(layer, module, prefix)}, which adapter_config.json does not target`);
        const base = model.weights.blocks[layer].linears[module];
        const { r, scale } = moduleRankAndScale(config, layer, module);
        const aInfo = ckpt.info(A), bInfo = ckpt.info(B);
        if (aInfo.shape.join() !== [r, base.inFeatures].join()) throw new UserError(`${dir}: ${A} has shape [${aInfo.shape}], expected [${r},${base.inFeatures}]`);
        if (bInfo.shape.join() !== [base.outFeatures, r].join()) throw new UserError(`${dir}: ${B} has shape [${bInfo.shape}], expected [${base.outFeatures},${r}]`);
        const At = tf.tidy(() => tf.tensor2d(ckpt.readF32(A), [r, base.inFeatures]).transpose() as tf.Tensor2D); // [in, r]
        const Bt = tf.tidy(() => tf.tensor2d(ckpt.readF32(B), [base.outFeatures, r]).transpose() as tf.Tensor2D); // [r, out]
        modules.set(key, { layer, module, A: At, B: Bt, scale });
      }
      tf.engine().endScope([...modules.values()].flatMap((m) => [m.A, m.B]));
    } catch (e) {
      tf.engine().endScope();
      throw e;
    }
    if (!modules.size) throw new UserError(`${dir}: adapter_model.safetensors holds no LoRA weights`);
    return { config, name: dir, modules };
  } finally {
    ckpt.close();
  }
}

/** PEFT's tensor name for one LoRA matrix. */
export function peftTensorName(layer: number, module: LinearName, which: 'A' | 'B', prefix = 'model.'): string {
  return `base_model.model.${modulePath(layer, module, prefix)}.lora_${which}.weight`;
}

/** Writes the adapter in PEFT's on-disk format (adapter_config.json + adapter_model.safetensors, F32). */
export function saveLora(lora: LoraAdapter, dir: string, model: Model): void {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, HostTensor> = {};
  for (const m of [...lora.modules.values()].sort((a, b) => a.layer - b.layer || a.module.localeCompare(b.module))) {
    const [inn, r] = m.A.shape, out = m.B.shape[1];
    tensors[peftTensorName(m.layer, m.module, 'A', lora.config.modulePrefix)] = { dtype: 'F32', shape: [r, inn], data: readValues(() => m.A.transpose()) };
    tensors[peftTensorName(m.layer, m.module, 'B', lora.config.modulePrefix)] = { dtype: 'F32', shape: [out, r], data: readValues(() => m.B.transpose()) };
  }
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  writeJsonAtomic(join(dir, 'adapter_config.json'), peftConfigJson(lora.config, model));
}

/** A model whose targeted linears carry the adapter; the base model object is not changed and shares its weights. */
export function withLora(model: Model, lora: LoraAdapter, dropout?: LoraDropout): Model {
  const blocks: Block[] = model.weights.blocks.map((b) => ({ ...b, linears: { ...b.linears } }));
  for (const m of lora.modules.values()) {
    const block = blocks[m.layer];
    block.linears[m.module] = new LoraLinear(block.linears[m.module], m.A, m.B, m.scale, dropout);
  }
  return { ...model, weights: { ...model.weights, blocks }, adapters: [...model.adapters, lora.name] };
}

/** W + scale·A·B baked into new base kernels (new tensors; the given model is untouched). */
export function mergeLora(model: Model, lora: LoraAdapter): Model {
  const blocks: Block[] = model.weights.blocks.map((b) => ({ ...b, linears: { ...b.linears } }));
  for (const m of lora.modules.values()) {
    const base = blocks[m.layer].linears[m.module];
    if (!(base instanceof DenseLinear)) throw new Error(`mergeLora: ${modulePath(m.layer, m.module)} is already wrapped`);
    const w = tf.tidy(() => tf.add(base.w, tf.matMul(m.A, m.B).mul(m.scale)) as tf.Tensor2D);
    blocks[m.layer].linears[m.module] = new DenseLinear(w, base.b ? base.b.clone() : undefined);
  }
  return { ...model, weights: { ...model.weights, blocks }, adapters: [] };
}

export function loraVariables(lora: LoraAdapter): tf.Variable[] {
  return variablesIn([...lora.modules.values()].flatMap((m) => [m.A, m.B]));
}

export function disposeLora(lora: LoraAdapter): void {
  for (const m of lora.modules.values()) {
    m.A.dispose();
    m.B.dispose();
  }
}
