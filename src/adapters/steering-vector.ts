// Learned steering vectors (Model Organisms' toggle adapters): v_l added to resid_post(l) at chosen layers,
// switched on or off per call. Axes: v_l [dModel]; the hooked activation [batch, seq, dModel].
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, mkdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { hookNames, type Hook } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import { SafetensorsFile, writeSafetensors, type HostTensor } from '../model/safetensors.ts';
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { newVariable, variablesIn } from '../util/tensors.ts';

export interface SteeringVectors {
  dModel: number;
  vectors: Map<number, tf.Tensor1D>;
}

export const STEER_FILE = 'steer.safetensors';
export const STEER_CONFIG = 'steer_config.json';

/** Zero vectors (identity) as variables at the given layers. */
export function createSteeringVectors(model: Model, layers: number[]): SteeringVectors {
  const { dModel, nLayers } = model.config;
  const vectors = new Map<number, tf.Tensor1D>();
  for (const l of layers) {
    if (l < 0 || l >= nLayers) throw new EmlensError('layers', `layer ${l} is out of range (0..${nLayers - 1})`);
    vectors.set(l, newVariable(() => tf.zeros([dModel]) as tf.Tensor1D, `steer.${l}`));
  }
  return { dModel, vectors };
}

/** Adds each v_l to resid_post(l); `enabled` false gives no hooks (the toggle). */
export function steeringVectorHooks(s: SteeringVectors, enabled = true, scale = 1): Hook[] {
  if (!enabled) return [];
  return [...s.vectors].map(([l, v]) => ({ name: hookNames.residPost(l), fn: (x: tf.Tensor) => tf.add(x, scale === 1 ? v : tf.mul(v, scale)) }));
}

export function steeringVariables(s: SteeringVectors): tf.Variable[] {
  return variablesIn([...s.vectors.values()]);
}

export function disposeSteeringVectors(s: SteeringVectors): void {
  tf.dispose([...s.vectors.values()]);
}

export function saveSteeringVectors(s: SteeringVectors, dir: string, provenance: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, HostTensor> = {};
  for (const [l, v] of [...s.vectors].sort((a, b) => a[0] - b[0])) tensors[`layers.${l}`] = { dtype: 'F32', shape: [s.dModel], data: v.dataSync() as Float32Array };
  writeSafetensors(join(dir, STEER_FILE), tensors, { format: 'emlens-steer' });
  writeJsonAtomic(join(dir, STEER_CONFIG), { layers: [...s.vectors.keys()].sort((a, b) => a - b), d_model: s.dModel, site: 'resid_post', ...provenance });
}

export function loadSteeringVectors(path: string, model: Model): SteeringVectors {
  if (!existsSync(path)) throw new UserError(`${path}: not found`);
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const cfgPath = join(dir, STEER_CONFIG);
  if (!existsSync(cfgPath)) throw new UserError(`${path}: no ${STEER_CONFIG} (written by emlens train --adapter steer)`);
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { layers: number[]; d_model: number };
  if (cfg.d_model !== model.config.dModel) throw new UserError(`${path}: vectors of size ${cfg.d_model}, the model's dModel is ${model.config.dModel}`);
  const outside = cfg.layers.find((l) => !(Number.isInteger(l) && l >= 0 && l < model.config.nLayers));
  if (outside !== undefined) throw new UserError(`${path}: a steering vector at layer ${outside}, the model has layers 0..${model.config.nLayers - 1}`);
  const f = SafetensorsFile.open(join(dir, STEER_FILE));
  try {
    return { dModel: cfg.d_model, vectors: new Map(cfg.layers.map((l) => [l, tf.tensor1d(f.readF32(`layers.${l}`))])) };
  } finally {
    f.close();
  }
}
