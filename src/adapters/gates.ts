// Alignment gates (sycophancy paper): per attention layer g = 2·σ(W·h + b) from the block input h, one value per
// attention channel, multiplied into attn.hook_z before o_proj. Axes: h [batch, seq, dModel]; W [dModel, C]; b, g [C]; C = nHeads·dHead.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, dirname } from 'node:path';
import { hookNames, type Hook } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import { SafetensorsFile, writeSafetensors, type HostTensor } from '../model/safetensors.ts';
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { newVariable, variablesIn } from '../util/tensors.ts';
import { readTensorFile, type HostArray } from '../io/tensor-file.ts';

/** full: W [dModel, C]; diag: bias only (g = 2σ(b)); lowrank: W = U·V with U [dModel, r], V [r, C]. */
export type GateKind = 'full' | 'diag' | 'lowrank';

export interface GateLayer {
  W?: tf.Tensor2D; // [dModel, C]
  U?: tf.Tensor2D; // [dModel, r]
  V?: tf.Tensor2D; // [r, C]
  b: tf.Tensor1D; // [C]
}

export interface Gates {
  kind: GateKind;
  rank?: number;
  dModel: number;
  channels: number;
  layers: Map<number, GateLayer>;
}

export const GATE_FILE = 'gates.safetensors';
export const GATE_CONFIG = 'gate_config.json';

export function parseGateKind(gateKind: string): { kind: GateKind; rank?: number } {
  if (gateKind === 'full' || gateKind === 'diag') return { kind: gateKind };
  const m = /^lowrank:(\d+)$/.exec(gateKind);
  if (m && Number(m[1]) > 0) return { kind: 'lowrank', rank: Number(m[1]) };
  throw new EmlensError('gateKind', 'expected full, diag or lowrank:R', { value: gateKind, exitCode: 2 });
}

/** Gates at identity (W = 0, b = 0 ⇒ g = 1); lowrank starts with U = 0 and a random V so it can learn. Variables. */
export function createGates(model: Model, o: { kind: GateKind; rank?: number; layers?: number[]; seed?: number }): Gates {
  const { dModel, nHeads, dHead, nLayers } = model.config;
  const C = nHeads * dHead;
  const layers = o.layers ?? Array.from({ length: nLayers }, (_, l) => l);
  const rng = new Rng(o.seed ?? 0);
  const out: Gates = { kind: o.kind, rank: o.rank, dModel, channels: C, layers: new Map() };
  for (const l of layers) {
    if (l < 0 || l >= nLayers) throw new EmlensError('options.layers', `layer ${l} is out of range (0..${nLayers - 1})`);
    const v = (init: () => tf.Tensor, name: string) => newVariable(init, `gate.${l}.${name}`);
    const g: GateLayer = { b: v(() => tf.zeros([C]), 'b') as tf.Tensor1D };
    if (o.kind === 'full') g.W = v(() => tf.zeros([dModel, C]), 'W') as tf.Tensor2D;
    if (o.kind === 'lowrank') {
      const r = o.rank ?? 1;
      const init = new Float32Array(r * C).map(() => rng.normal() / Math.sqrt(r));
      g.U = v(() => tf.zeros([dModel, r]), 'U') as tf.Tensor2D;
      g.V = v(() => tf.tensor2d(init, [r, C]), 'V') as tf.Tensor2D;
    }
    out.layers.set(l, g);
  }
  return out;
}

/** g = 2σ(h·W + b) for h [batch, seq, dModel] → [batch, seq, C]. */
export function gateValues(g: GateLayer, h: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let pre: tf.Tensor = g.b;
    if (g.W || g.U) {
      const [bsz, s, d] = h.shape;
      const h2 = h.reshape([bsz * s, d]);
      const hw = g.W ? tf.matMul(h2 as tf.Tensor2D, g.W) : tf.matMul(tf.matMul(h2 as tf.Tensor2D, g.U!), g.V!);
      pre = tf.add(hw.reshape([bsz, s, -1]), g.b);
    }
    return tf.mul(tf.sigmoid(pre), 2);
  });
}

/** Hooks applying g_λ = 1 + λ(g − 1) at attn.hook_z: λ = 1 amplify, −1 reverse (2 − g), 0 off. */
export function gateHooks(gates: Gates, scale = 1): Hook[] {
  if (scale === 0) return [];
  const hooks: Hook[] = [];
  for (const [l, g] of gates.layers) {
    hooks.push({
      name: hookNames.z(l),
      fn: (z, { blockInput }) => {
        if (!blockInput) throw new Error(`gate at layer ${l}: the forward pass gave attn.hook_z no block input`);
        const gv = gateValues(g, blockInput); // from resid_pre as the block reads it, after every hook there
        return tf.mul(z, scale === 1 ? gv : tf.add(1, tf.mul(tf.sub(gv, 1), scale)));
      },
    });
  }
  return hooks;
}

export function gateVariables(gates: Gates): tf.Variable[] {
  return variablesIn([...gates.layers.values()].flatMap((g) => [g.W, g.U, g.V, g.b]));
}

export function disposeGates(gates: Gates): void {
  for (const g of gates.layers.values()) for (const t of [g.W, g.U, g.V, g.b]) t?.dispose();
}

/** Writes gates.safetensors (layers.{l}.W | U | V | b) and gate_config.json into dir. */
export function saveGates(gates: Gates, dir: string, provenance: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, HostTensor> = {};
  for (const [l, g] of [...gates.layers].sort((a, b) => a[0] - b[0])) {
    for (const [name, t] of Object.entries({ W: g.W, U: g.U, V: g.V, b: g.b })) {
      if (t) tensors[`layers.${l}.${name}`] = { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array };
    }
  }
  writeSafetensors(join(dir, GATE_FILE), tensors, { format: 'emlens-gates' });
  writeJsonAtomic(join(dir, GATE_CONFIG), {
    kind: gates.kind, rank: gates.rank ?? null, layers: [...gates.layers.keys()].sort((a, b) => a - b),
    d_model: gates.dModel, channels: gates.channels, input: 'resid_pre', applied_at: 'attn.hook_z',
    formula: 'g = 2*sigmoid(h @ W + b); g_scale = 1 + scale*(g - 1)', ...provenance,
  });
}

/**
 * Reads a gate folder (or the gates.safetensors inside it; or Alignment Gating's gating_params.pth). Plain tensors, not
 * variables. `param`: the caller's name for the path, which its errors carry (e.g. `spec.gates`).
 */
export function loadGates(path: string, model: Model, param = 'path'): Gates {
  const fail = (detail: string, file = path) => new EmlensError(param, detail, { value: file });
  if (!existsSync(path)) throw fail('not found');
  if (statSync(path).isFile() && !(basename(path) === GATE_FILE && existsSync(join(dirname(path), GATE_CONFIG)))) return loadForeignGates(path, model, fail);
  const dir = statSync(path).isDirectory() ? (existsSync(join(path, GATE_FILE)) ? path : join(path, 'adapter')) : dirname(path);
  const file = statSync(path).isDirectory() ? join(dir, GATE_FILE) : path;
  const cfgPath = join(dir, GATE_CONFIG);
  if (!existsSync(file) || !existsSync(cfgPath)) throw fail(`expected ${GATE_FILE} and ${GATE_CONFIG} (written by training a gate adapter)`);
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { kind: GateKind; rank?: number; layers: number[]; d_model: number; channels: number };
  const { dModel, nHeads, dHead } = model.config;
  if (cfg.d_model !== dModel || cfg.channels !== nHeads * dHead) throw fail(`made for dModel ${cfg.d_model} × ${cfg.channels} channels, the model has ${dModel} × ${nHeads * dHead}`);
  const outside = cfg.layers.find((l) => !(Number.isInteger(l) && l >= 0 && l < model.config.nLayers));
  if (outside !== undefined) throw fail(`a gate at layer ${outside}, the model has layers 0..${model.config.nLayers - 1}`);
  const f = SafetensorsFile.open(file);
  try {
    const gates: Gates = { kind: cfg.kind, rank: cfg.rank ?? undefined, dModel, channels: cfg.channels, layers: new Map() };
    for (const l of cfg.layers) {
      const read = (n: string) => (f.tensors.has(`layers.${l}.${n}`) ? tf.tensor(f.readF32(`layers.${l}.${n}`), f.info(`layers.${l}.${n}`).shape) : undefined);
      const b = read('b');
      if (!b) throw new UserError(`${file}: missing layers.${l}.b`);
      gates.layers.set(l, { W: read('W') as tf.Tensor2D, U: read('U') as tf.Tensor2D, V: read('V') as tf.Tensor2D, b: b as tf.Tensor1D });
    }
    return gates;
  } finally {
    f.close();
  }
}

const FOREIGN_GATE_KEY = /(?:^|\.)layers\.(\d+)\.self_attn\.gate_proj_myself\.(weight|bias)$/;

/**
 * Alignment Gating's released gates (gating_params.pth, a torch state dict; or the same keys in a .safetensors):
 * per layer `…layers.N.self_attn.gate_proj_myself.weight` [C, dModel] (an nn.Linear's [out, in]) and `.bias` [C],
 * g = 2σ(W·h + b) on the block input as emlens's full gates (W here is the weight transposed). Plain tensors.
 */
function loadForeignGates(file: string, model: Model, fail: (detail: string) => EmlensError): Gates {
  const { dModel, nHeads, dHead, nLayers } = model.config;
  const C = nHeads * dHead;
  const found = new Map<number, { weight?: HostArray; bias?: HostArray }>();
  const entries = readTensorFile(file).entries;
  for (const e of entries) {
    const m = FOREIGN_GATE_KEY.exec(e.name);
    if (!m) continue;
    const l = Number(m[1]);
    found.set(l, { ...found.get(l), [m[2]]: e.array });
  }
  if (!found.size) throw fail(`no gate_proj_myself tensors in it (expected Alignment Gating's gating_params.pth: model.layers.N.self_attn.gate_proj_myself.weight / .bias), nor an emlens gate folder (${GATE_FILE} + ${GATE_CONFIG})`);
  const gates: Gates = { kind: 'full', dModel, channels: C, layers: new Map() };
  try {
    for (const [l, { weight, bias }] of [...found].sort((a, b) => a[0] - b[0])) {
      const key = `layers.${l}.self_attn.gate_proj_myself`;
      if (l >= nLayers) throw fail(`a gate at layer ${l}, the model has layers 0..${nLayers - 1}`);
      if (!weight || !bias) throw fail(`${key} has no ${weight ? 'bias' : 'weight'}`);
      if (weight.shape.join() !== `${C},${dModel}`) throw fail(`${key}.weight is [${weight.shape}], the model needs [${C}, ${dModel}] (heads·head_dim, hidden)`);
      if (bias.shape.join() !== `${C}`) throw fail(`${key}.bias is [${bias.shape}], the model needs [${C}]`);
      const W = tf.tidy(() => tf.tensor2d(weight.data, [C, dModel]).transpose() as tf.Tensor2D); // [dModel, C]
      gates.layers.set(l, { W, b: tf.tensor1d(bias.data) });
    }
  } catch (e) {
    disposeGates(gates);
    throw e;
  }
  return gates;
}
