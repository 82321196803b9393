// Streaming activation collection at one hook site for every layer: batches run through the model, the chosen
// positions are pooled into float64 sums on the host, and nothing but the sums (and, if asked, per-example means) is kept.
// Axes: activations [batch, seq, width] (width: dModel, or nHeads·dHead at z, dMlp at mlp_post) → per layer, per slot:
// sums [width]; per-example means [n][width].
import { forward } from '../model/transformer.ts';
import { hookNames, siteWidth, type Hook, type HookSite } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import type { Sample } from './positions.ts';
import { Progress } from '../util/progress.ts';

export interface Collected {
  site: HookSite;
  nLayers: number;
  nSlots: number;
  /** [layer][slot] Σ activations over every pooled token. */
  tokenSum: Float64Array[][];
  /** [slot] number of tokens pooled. */
  tokenCount: number[];
  /** [layer][slot] Σ over examples of each example's mean over its slot positions. */
  exampleSum: Float64Array[][];
  /** [slot] examples with that slot. */
  exampleCount: number[];
  /** [layer][slot][example] per-example means in the order of the samples given, only with keepExamples. */
  examples?: Float64Array[][][];
}

export interface CollectOptions {
  site?: HookSite;
  hooks?: Hook[];
  batchSize?: number;
  keepExamples?: boolean;
  label?: string;
}

export function collectActivations(model: Model, samples: Sample[], o: CollectOptions = {}): Collected {
  const site = o.site ?? 'resid_post';
  const { nLayers } = model.config;
  const width = siteWidth(model.config, site);
  const nSlots = Math.max(...samples.map((s) => s.slots.length));
  const zeros = () => Array.from({ length: nLayers }, () => Array.from({ length: nSlots }, () => new Float64Array(width)));
  const c: Collected = {
    site, nLayers, nSlots,
    tokenSum: zeros(), tokenCount: new Array(nSlots).fill(0),
    exampleSum: zeros(), exampleCount: new Array(nSlots).fill(0),
    examples: o.keepExamples ? Array.from({ length: nLayers }, () => Array.from({ length: nSlots }, () => new Array<Float64Array>(samples.length))) : undefined,
  };
  const names = Array.from({ length: nLayers }, (_, l) => hookNames.site(site, l));
  const batchSize = o.batchSize ?? 8;
  // similar lengths together keep padding small; results do not depend on the order
  const order = samples.map((_, i) => i).sort((a, b) => samples[a].ids.length - samples[b].ids.length);
  const progress = new Progress(o.label ?? 'collect', samples.length, 'ex');
  for (let s = 0; s < order.length; s += batchSize) {
    const index = order.slice(s, s + batchSize);
    const batch = index.map((i) => samples[i]);
    const seq = Math.max(...batch.map((b) => b.ids.length));
    const ids = batch.map((b) => [...b.ids, ...Array(seq - b.ids.length).fill(0)]);
    const mask = Int32Array.from(batch.flatMap((b) => [...Array(b.ids.length).fill(1), ...Array(seq - b.ids.length).fill(0)]));
    const r = forward(model, ids, { hooks: o.hooks, attentionMask: mask, cache: names, logits: 'none' });
    names.forEach((name, l) => {
      const act = r.activations[name]!;
      if (act.shape[2] !== width) throw new Error(`${name}: activations of width ${act.shape[2]}, expected ${width}`);
      const data = act.dataSync(); // [batch, seq, width]
      act.dispose();
      batch.forEach((b, bi) => {
        b.slots.forEach((positions, slot) => {
          if (!positions.length) return;
          const mean = new Float64Array(width);
          for (const p of positions) {
            const off = (bi * seq + p) * width;
            for (let j = 0; j < width; j++) mean[j] += data[off + j];
          }
          const ts = c.tokenSum[l][slot], es = c.exampleSum[l][slot];
          for (let j = 0; j < width; j++) {
            ts[j] += mean[j];
            mean[j] /= positions.length;
            es[j] += mean[j];
          }
          if (c.examples) c.examples[l][slot][index[bi]] = mean;
          if (l === 0) {
            c.tokenCount[slot] += positions.length;
            c.exampleCount[slot]++;
          }
        });
      });
    });
    progress.tick(batch.length);
  }
  progress.finish();
  // samples with fewer slots leave holes: keep only the examples that have each slot
  if (c.examples) c.examples = c.examples.map((perSlot) => perSlot.map((xs) => xs.filter((x) => x !== undefined)));
  return c;
}

/** Pooled mean per layer for one slot: token-weighted (Σh / tokens) or example-weighted (mean of per-example means). */
export function pooledMean(c: Collected, slot = 0, pooling: 'token' | 'example' = 'token'): Float64Array[] {
  return Array.from({ length: c.nLayers }, (_, l) => {
    const sum = pooling === 'token' ? c.tokenSum[l][slot] : c.exampleSum[l][slot];
    const n = pooling === 'token' ? c.tokenCount[slot] : c.exampleCount[slot];
    return sum.map((x) => x / Math.max(1, n));
  });
}
