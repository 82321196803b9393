// Extracts a direction from two sets of examples: collect pooled activations for each, aggregate per layer,
// pick the best layer by separation. Axes: per layer [dModel]; post-instruction gives one candidate per position.
import type { Model } from '../model/modules.ts';
import type { Hook, HookSite } from '../model/hooks.ts';
import type { ChatMessage, ChatTokenizer } from '../model/tokenizer.ts';
import { collectActivations, pooledMean, type Collected } from './collect.ts';
import { answerSample, promptSample, type Sample } from './positions.ts';
import { AGGREGATORS, type Aggregated } from './aggregators.ts';
import { Direction, type PositionRule, type Provenance } from './direction.ts';
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';

export interface ExtractOptions {
  site: HookSite;
  positions: PositionRule;
  method: string;
  /** Token-weighted pooling (Σh / tokens, the EM anchors) or the mean of per-example means (persona vectors). */
  pooling?: 'token' | 'example';
  hooks?: Hook[];
  seed?: number;
  batchSize?: number;
}

export function samplesFor(tok: ChatTokenizer, chats: ChatMessage[][], rule: PositionRule, where: string): Sample[] {
  return chats.map((m, i) => {
    const at = `${where}[${i}]`;
    if (rule === 'answer-mean') return answerSample(tok, m, at);
    const prompt = m[m.length - 1]?.role === 'assistant' ? m.slice(0, -1) : m;
    return promptSample(tok, prompt, rule, at);
  });
}

/** Aggregates one slot of two collections into per-layer vectors (`paired`: example i of each belongs together). */
export function aggregate(pos: Collected, neg: Collected, slot: number, method: string, pooling: 'token' | 'example', seed: number, paired = true): Aggregated {
  const agg = AGGREGATORS[method];
  if (!agg) throw new EmlensError('method', `expected one of ${Object.keys(AGGREGATORS).join(', ')}`, { value: method, exitCode: 2 });
  const group = (c: Collected) => ({ mean: pooledMean(c, slot, pooling), examples: c.examples?.map((perSlot) => perSlot[slot]) });
  return agg(group(pos), group(neg), seed, { paired });
}

/** Index of the largest finite value (ties: the earliest). */
export function argmax(xs: number[]): number {
  let best = -1;
  xs.forEach((x, i) => {
    if (Number.isFinite(x) && (best < 0 || x > xs[best])) best = i;
  });
  return Math.max(0, best);
}

/** pos − neg direction from two chat sets at one site and position rule (the last slot for post-instruction). */
export function extractContrast(model: Model, tok: ChatTokenizer, pos: ChatMessage[][], neg: ChatMessage[][], o: ExtractOptions, provenance: Omit<Provenance, 'layer_indexing' | 'site' | 'positions' | 'method'>): Direction {
  // per-example vectors give every method its separation score (and pca/probe their inputs)
  const keepExamples = true;
  const collect = (chats: ChatMessage[][], label: string) =>
    collectActivations(model, samplesFor(tok, chats, o.positions, label), { site: o.site, hooks: o.hooks, batchSize: o.batchSize, keepExamples, label: `collect ${label}` });
  const p = collect(pos, 'pos'), n = collect(neg, 'neg');
  const slot = Math.min(p.nSlots, n.nSlots) - 1;
  const agg = aggregate(p, n, slot, o.method, o.pooling ?? 'token', o.seed ?? 0);
  return Direction.make(agg.vectors, {
    ...provenance,
    site: o.site,
    positions: o.positions,
    method: o.method,
    counts: { pos: pos.length, neg: neg.length },
    best_layer: argmax(agg.separation),
    details: { ...(agg.details ?? {}), separation: agg.separation, pooling: o.pooling ?? 'token', ...(o.positions === 'post-instruction' ? { slot: 'last post-instruction token' } : {}) },
  });
}
