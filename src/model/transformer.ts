// The shared decoder forward pass for every family: embeddings → blocks (attention + MLP) → final norm → logits,
// with hook points, activation caching and a KV cache. Axes: ids [batch, seq]; x [batch, seq, dModel].
import * as tf from '@tensorflow/tfjs';
import { hookNames, type Hook, type HookContext, type HookName } from './hooks.ts';
import { activation, rmsNorm, type Block, type Model } from './modules.ts';
import { applyRope, ropeTables } from './rope.ts';
import type { LayerType, ModelConfig } from './config.ts';

/** Keys and values per layer, [batch, nKvHeads, cachedLen, dHead] each. */
export interface KVCache {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
  length: number;
}

export interface ForwardOptions {
  hooks?: Hook[];
  /** Activations to return, by hook name (after the hooks at that point have run). */
  cache?: HookName[];
  /** [batch, pastLen + seq] row-major, 1 for real tokens and 0 for padding; default all ones. */
  attentionMask?: Int32Array;
  /** [batch, seq] absolute positions; default from the mask (HF: cumsum(mask) − 1), else pastLen + i. */
  positions?: Int32Array;
  /** Cache from earlier steps; with `useCache` a new cache (past + these tokens) is returned. */
  kv?: KVCache;
  useCache?: boolean;
  /** Which positions get logits: all (default), the last one of each row, or none. */
  logits?: 'all' | 'last' | 'none';
  /**
   * Run only blocks [from.layer, untilLayer): `from.x` [batch, seq, dModel] is the residual stream entering block
   * from.layer (resid_post of the block before, after its hooks), in place of the embedding and the blocks below.
   */
  from?: { layer: number; x: tf.Tensor3D };
  /** Stop before this block (no final norm, no logits): the blocks below, e.g. to cache resid_post(untilLayer − 1). */
  untilLayer?: number;
}

export interface ForwardResult {
  /** [batch, seq | 1, vocab] */
  logits?: tf.Tensor3D;
  activations: Partial<Record<HookName, tf.Tensor>>;
  kv?: KVCache;
}

const MASKED = -1e9;

/** Runs the model on token ids; every intermediate is freed, returned tensors belong to the caller. */
export function forward(model: Model, ids: tf.Tensor2D | number[][], opts: ForwardOptions = {}): ForwardResult {
  const cfg = model.config;
  const idsT = Array.isArray(ids) ? tf.tensor2d(ids, undefined, 'int32') : ids;
  const [batch, seq] = idsT.shape;
  const past = opts.kv?.length ?? 0;
  const total = past + seq;
  const mask = opts.attentionMask ?? new Int32Array(batch * total).fill(1);
  if (mask.length !== batch * total) throw new Error(`attentionMask has ${mask.length} entries, expected ${batch}×${total}`);
  const positions = opts.positions ?? defaultPositions(mask, batch, total, seq);
  checkIds(idsT, cfg.vocab);
  checkPartial(opts, batch, seq, cfg.dModel, model.weights.blocks.length);
  const phase: HookContext['phase'] = past > 0 ? 'decode' : 'prefill';
  const hooksByName = new Map<HookName, Hook[]>();
  for (const h of opts.hooks ?? []) hooksByName.set(h.name, [...(hooksByName.get(h.name) ?? []), h]);
  const wanted = new Set(opts.cache ?? []);

  const result = tf.tidy(() => {
    const activations: Partial<Record<HookName, tf.Tensor>> = {};
    const point = <T extends tf.Tensor>(name: HookName, layer: number, x: T, blockInput?: tf.Tensor3D): T => {
      let out: tf.Tensor = x;
      for (const h of hooksByName.get(name) ?? []) {
        const r = h.fn(out, { name, layer, positions, phase, blockInput });
        if (r) {
          if (r.shape.join() !== out.shape.join()) throw new Error(`hook at ${name} returned shape [${r.shape}], expected [${out.shape}]`);
          out = r;
        }
      }
      if (wanted.has(name)) activations[name] = out;
      return out as T;
    };

    const masks = buildMasks(cfg, mask, batch, seq, past);
    const rope = ropeFor(cfg, positions, batch, seq);
    const first = opts.from?.layer ?? 0;
    const end = opts.untilLayer ?? model.weights.blocks.length;
    let x: tf.Tensor3D; // [batch, seq, dModel]
    if (opts.from) x = opts.from.x;
    else {
      x = tf.gather(model.weights.embed, idsT) as tf.Tensor as tf.Tensor3D;
      if (cfg.embedScale !== 1) x = tf.mul(x, cfg.embedScale);
      x = point(hookNames.embed(), -1, x);
    }
    const norm = (t: tf.Tensor3D, w: tf.Tensor1D | undefined): tf.Tensor3D => (w ? rmsNorm(t, w, cfg.normEps, cfg.normPlusOne) as tf.Tensor3D : t);
    const newK: tf.Tensor4D[] = [], newV: tf.Tensor4D[] = [];
    model.weights.blocks.forEach((block, l) => {
      if (l < first || l >= end) return;
      const h = point(hookNames.residPre(l), l, x); // the block input, as every later hook of the block sees it
      const at = <T extends tf.Tensor>(name: HookName, t: T): T => point(name, l, t, h);
      const type = cfg.layerTypes[l];
      const selfAttn = (t: tf.Tensor3D): tf.Tensor3D => {
        const attn = attention(cfg, block, t, rope[type], masks[type], opts.kv && { k: opts.kv.k[l], v: opts.kv.v[l] }, (z) => at(hookNames.z(l), z));
        if (opts.useCache) {
          newK.push(attn.k);
          newV.push(attn.v);
        }
        return attn.out;
      };
      const ffn = (t: tf.Tensor3D) => mlp(cfg, block, t, (act) => at(hookNames.mlpPost(l), act));
      // x = x + attn(norm₁(x)); x = x + mlp(norm₂(x)), Gemma's sandwich norms also normalising each sublayer's output
      x = at(hookNames.residMid(l), tf.add(h, at(hookNames.attnOut(l), norm(selfAttn(norm(h, block.inputNorm)), block.postAttnNorm))));
      x = at(hookNames.residPost(l), tf.add(x, at(hookNames.mlpOut(l), norm(ffn(norm(x, block.preMlpNorm)), block.postMlpNorm))));
    });
    if (end < model.weights.blocks.length) return { logits: undefined, activations, kv: undefined };
    const normed = point(hookNames.finalNorm(), -1, norm(x, model.weights.finalNorm));
    const which = opts.logits ?? 'all';
    const logits = which === 'none' ? undefined : unembed(model, which === 'last' ? normed.slice([0, seq - 1, 0], [-1, 1, -1]) : normed);
    const kv = opts.useCache ? { k: newK, v: newV, length: total } : undefined;
    return { logits, activations, kv };
  });
  if (idsT !== ids) idsT.dispose();
  return result;
}

/** A run of some blocks only: within the model, without a KV cache, `from.x` of the batch's shape. */
function checkPartial(opts: ForwardOptions, batch: number, seq: number, dModel: number, nLayers: number): void {
  if (!opts.from && opts.untilLayer === undefined) return;
  if (opts.kv || opts.useCache) throw new Error('forward: from / untilLayer run part of the blocks, which a KV cache cannot follow');
  const first = opts.from?.layer ?? 0, end = opts.untilLayer ?? nLayers;
  if (!(Number.isInteger(first) && Number.isInteger(end) && 0 <= first && first <= end && end <= nLayers)) throw new Error(`forward: blocks [${first}, ${end}) are not within the model's ${nLayers}`);
  if (opts.from && opts.from.x.shape.join() !== [batch, seq, dModel].join()) throw new Error(`forward: from.x has shape [${opts.from.x.shape}], expected [${batch}, ${seq}, ${dModel}]`);
}

/** h [batch, seq, dModel] → logits [batch, seq, vocab], with Gemma's final softcapping. */
export function unembed(model: Model, h: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const { embed, lmHead } = model.weights;
    const [b, s, d] = h.shape;
    const h2 = h.reshape([b * s, d]) as tf.Tensor2D;
    // Tied: (E·hᵀ)ᵀ, about 10× faster on wasm than h·Eᵀ with a transposed operand.
    let logits: tf.Tensor = lmHead ? tf.matMul(h2, lmHead) : tf.transpose(tf.matMul(embed, tf.transpose(h2))); // [b*s, vocab]
    const cap = model.config.finalSoftcap;
    if (cap) logits = tf.mul(tf.tanh(tf.div(logits, cap)), cap);
    return logits.reshape([b, s, -1]) as tf.Tensor3D;
  });
}

/** HF's position ids: with padding, cumsum(mask) − 1 over the whole row; else past + i. */
function defaultPositions(mask: Int32Array, batch: number, total: number, seq: number): Int32Array {
  const pos = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let j = 0; j < total; j++) {
      count += mask[b * total + j];
      const i = j - (total - seq);
      if (i >= 0) pos[b * seq + i] = mask[b * total + j] ? count - 1 : 1; // HF fills padded slots with 1
    }
  }
  return pos;
}

function checkIds(ids: tf.Tensor2D, vocab: number): void {
  const data = ids.dataSync();
  for (let i = 0; i < data.length; i++) {
    if (data[i] < 0 || data[i] >= vocab || !Number.isInteger(data[i])) throw new RangeError(`token id ${data[i]} is out of range for a vocabulary of ${vocab}`);
  }
}

/** Additive masks [batch, 1, 1, seq, total] per layer type: causal (in cache index space), padding, sliding window. */
function buildMasks(cfg: ModelConfig, mask: Int32Array, batch: number, seq: number, past: number): Record<LayerType, tf.Tensor> {
  const total = past + seq;
  const make = (window?: number) => {
    const m = new Float32Array(batch * seq * total);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < seq; i++) {
        const q = past + i;
        for (let j = 0; j < total; j++) {
          const ok = j <= q && mask[b * total + j] === 1 && (window === undefined || q - j < window);
          m[(b * seq + i) * total + j] = ok ? 0 : MASKED;
        }
      }
    }
    return tf.tensor(m, [batch, 1, 1, seq, total]);
  };
  const full = make();
  const sliding = cfg.layerTypes.includes('sliding') ? make(cfg.slidingWindow) : full;
  return { full, sliding };
}

function ropeFor(cfg: ModelConfig, positions: Int32Array, batch: number, seq: number): Record<LayerType, { cos: tf.Tensor4D; sin: tf.Tensor4D }> {
  const full = ropeTables(cfg.rope.full, cfg.dHead, cfg.maxPositions, positions, batch, seq);
  const sliding = cfg.layerTypes.includes('sliding') && cfg.rope.sliding !== cfg.rope.full
    ? ropeTables(cfg.rope.sliding, cfg.dHead, cfg.maxPositions, positions, batch, seq)
    : full;
  return { full, sliding };
}

/** x [batch, seq, heads*dHead] → [batch, heads, seq, dHead], with the optional per-head norm. */
function splitHeads(x: tf.Tensor3D, heads: number, dHead: number, norm: tf.Tensor1D | undefined, cfg: ModelConfig): tf.Tensor4D {
  const [b, s] = x.shape;
  let h: tf.Tensor = x.reshape([b, s, heads, dHead]);
  if (norm) h = rmsNorm(h, norm, cfg.normEps, cfg.normPlusOne);
  return h.transpose([0, 2, 1, 3]) as tf.Tensor4D;
}

function attention(
  cfg: ModelConfig,
  block: Block,
  x: tf.Tensor3D,
  rope: { cos: tf.Tensor4D; sin: tf.Tensor4D },
  mask: tf.Tensor,
  past: { k: tf.Tensor4D; v: tf.Tensor4D } | undefined,
  hookZ: (z: tf.Tensor3D) => tf.Tensor3D,
): { out: tf.Tensor3D; k: tf.Tensor4D; v: tf.Tensor4D } {
  const { nHeads, nKvHeads, dHead } = cfg;
  const [b, s] = x.shape;
  const L = block.linears;
  const q = applyRope(splitHeads(L.q_proj.apply(x) as tf.Tensor3D, nHeads, dHead, block.qNorm, cfg), rope.cos, rope.sin); // [b, nH, s, d]
  let k = applyRope(splitHeads(L.k_proj.apply(x) as tf.Tensor3D, nKvHeads, dHead, block.kNorm, cfg), rope.cos, rope.sin); // [b, nKv, s, d]
  let v = splitHeads(L.v_proj.apply(x) as tf.Tensor3D, nKvHeads, dHead, undefined, cfg); // [b, nKv, s, d]
  if (past) {
    k = tf.concat([past.k, k], 2);
    v = tf.concat([past.v, v], 2);
  }
  const total = k.shape[2];
  const rep = nHeads / nKvHeads;
  // Query head h reads kv head floor(h / rep): group the queries instead of repeating k and v.
  const qg = q.reshape([b * nKvHeads, rep * s, dHead]) as tf.Tensor3D;
  const kg = k.reshape([b * nKvHeads, total, dHead]) as tf.Tensor3D;
  const vg = v.reshape([b * nKvHeads, total, dHead]) as tf.Tensor3D;
  let scores: tf.Tensor = tf.mul(tf.matMul(qg, kg, false, true), cfg.attnScale); // [b*nKv, rep*s, total]
  if (cfg.attnSoftcap) scores = tf.mul(tf.tanh(tf.div(scores, cfg.attnSoftcap)), cfg.attnSoftcap);
  scores = tf.add(scores.reshape([b, nKvHeads, rep, s, total]), mask);
  const probs = tf.softmax(scores).reshape([b * nKvHeads, rep * s, total]) as tf.Tensor3D;
  const ctx = tf.matMul(probs, vg).reshape([b, nHeads, s, dHead]); // [b, nH, s, d]
  const z = hookZ(ctx.transpose([0, 2, 1, 3]).reshape([b, s, nHeads * dHead]) as tf.Tensor3D); // [b, s, nH*d]
  return { out: L.o_proj.apply(z) as tf.Tensor3D, k, v };
}

function mlp(cfg: ModelConfig, block: Block, x: tf.Tensor3D, hookPost: (h: tf.Tensor3D) => tf.Tensor3D): tf.Tensor3D {
  const L = block.linears;
  const h = hookPost(tf.mul(activation(L.gate_proj.apply(x), cfg.act), L.up_proj.apply(x)) as tf.Tensor3D); // [b, s, dMlp]
  return L.down_proj.apply(h) as tf.Tensor3D;
}
