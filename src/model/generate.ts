// KV-cached batched generation: left-padded prompts, temperature / top-p sampling with a seed, hooks on every step.
// Axes: prompt ids per row; logits of the last position [batch, vocab] are read back each step.
import * as tf from '@tensorflow/tfjs';
import { forward, type KVCache } from './transformer.ts';
import type { Hook } from './hooks.ts';
import type { Model } from './modules.ts';
import { Rng } from '../util/rng.ts';

export interface GenerateOptions {
  maxNewTokens?: number;
  /** 0 = greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
  hooks?: Hook[];
  /** Ids that end a row (it then emits nothing more). */
  eosIds?: number[];
  /** Id used for left padding (masked out, so any valid id works). */
  padId?: number;
  /** Called after each step with the number of new tokens so far (progress). */
  onStep?: (step: number, maxSteps: number) => void;
}

export interface Generation {
  /** New tokens per prompt row, without the prompt and without padding; ends with the EOS id when one was produced. */
  tokens: number[][];
  finished: boolean[];
}

export function generate(model: Model, prompts: number[][], opts: GenerateOptions = {}): Generation {
  const maxNew = opts.maxNewTokens ?? 64;
  const temperature = opts.temperature ?? 1;
  const topP = opts.topP ?? 1;
  const rng = new Rng(opts.seed ?? 0);
  const eos = new Set(opts.eosIds ?? []);
  const batch = prompts.length;
  if (!batch) return { tokens: [], finished: [] };
  if (prompts.some((p) => p.length === 0)) throw new RangeError('generate: every prompt needs at least one token');
  const width = Math.max(...prompts.map((p) => p.length));
  const pad = opts.padId ?? 0;
  const ids = prompts.map((p) => [...Array(width - p.length).fill(pad), ...p]);
  let mask = Int32Array.from(prompts.flatMap((p) => [...Array(width - p.length).fill(0), ...Array(p.length).fill(1)]));
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  // the prompt rows the batch holds, in order: all at first; once a quarter of them have ended, the ended rows and
  // their cache are dropped, so later steps compute fewer rows (each row generates what it does alone: tested on wasm)
  let rows = prompts.map((_, b) => b);
  let kv: KVCache | undefined;
  let step = forward(model, ids, { hooks: opts.hooks, attentionMask: mask, useCache: true, logits: 'last' });
  try {
    for (let t = 0; t < maxNew; t++) {
      const logits = step.logits!.dataSync() as Float32Array; // [rows, 1, vocab]
      const vocab = logits.length / rows.length;
      const next: number[] = [];
      for (const [j, b] of rows.entries()) {
        const tok = done[b] ? pad : sample(logits.subarray(j * vocab, (j + 1) * vocab), temperature, topP, rng);
        next.push(tok);
        if (!done[b]) {
          out[b].push(tok);
          if (eos.has(tok)) done[b] = true;
        }
      }
      opts.onStep?.(t + 1, maxNew);
      disposeKv(kv);
      kv = step.kv;
      step.logits?.dispose();
      if (done.every(Boolean) || t === maxNew - 1) break;
      const going = [...rows.keys()].filter((j) => !done[rows[j]]); // batch rows still generating
      const keep = going.length <= rows.length * 0.75 ? going : [...rows.keys()]; // a cut copies the cache, as a step does
      const width = kv!.length; // mask columns so far
      const grown = new Int32Array(keep.length * (width + 1));
      for (const [r, j] of keep.entries()) {
        grown.set(mask.subarray(j * width, (j + 1) * width), r * (width + 1));
        grown[r * (width + 1) + width] = 1;
      }
      mask = grown;
      if (keep.length < rows.length) {
        const before = kv!;
        kv = keepRows(before, keep);
        disposeKv(before);
        rows = keep.map((j) => rows[j]);
      }
      step = forward(model, keep.map((j) => [next[j]]), { hooks: opts.hooks, attentionMask: mask, kv, useCache: true, logits: 'last' });
    }
  } finally {
    disposeKv(kv);
    if (step.kv !== kv) disposeKv(step.kv);
    step.logits?.dispose();
  }
  return { tokens: out, finished: done };
}

/**
 * The cache of some batch rows only (`rows` ascending): each [batch, nKv, len, dHead] tensor cut to them, as slices
 * of the runs of consecutive rows (contiguous copies; wasm's Gather goes element by element, slower than the steps
 * it saves).
 */
function keepRows(kv: KVCache, rows: number[]): KVCache {
  const runs: [number, number][] = []; // [first row, count]
  for (const r of rows) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === r) last[1]++;
    else runs.push([r, 1]);
  }
  const cut = (t: tf.Tensor4D) => tf.tidy(() => {
    const parts = runs.map(([at, n]) => t.slice([at, 0, 0, 0], [n, -1, -1, -1]));
    return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
  });
  return { k: kv.k.map(cut), v: kv.v.map(cut), length: kv.length };
}

function disposeKv(kv: KVCache | undefined): void {
  if (!kv) return;
  tf.dispose([...kv.k, ...kv.v]);
}

/** Greedy at temperature 0; else softmax(logits / T), HF's top-p filter, then a draw. */
export function sample(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    probs[i] = Math.exp((logits[i] - max) / temperature);
    sum += probs[i];
  }
  for (let i = 0; i < probs.length; i++) probs[i] /= sum;
  // the tokens that may be drawn, in draw order; every token in id order when no top-p filter applies
  const candidates = topP < 1 ? topPCandidates(probs, topP) : undefined;
  const count = candidates ? candidates.length : probs.length;
  let mass = 0;
  for (let c = 0; c < count; c++) mass += probs[candidates ? candidates[c] : c];
  let r = rng.next() * mass;
  for (let c = 0; c < count; c++) {
    const i = candidates ? candidates[c] : c;
    r -= probs[i];
    if (r <= 0) return i;
  }
  return candidates ? candidates[count - 1] : count - 1;
}

/** HF TopPLogitsWarper: drop the low tail whose cumulative mass is ≤ 1 − top_p, keep at least one token; ascending. */
function topPCandidates(probs: Float64Array, topP: number): number[] {
  const order = Array.from(probs.keys()).sort((a, b) => probs[a] - probs[b]);
  let cum = 0;
  let cut = 0;
  while (cut < order.length - 1 && cum + probs[order[cut]] <= 1 - topP) cum += probs[order[cut++]];
  return order.slice(cut);
}
