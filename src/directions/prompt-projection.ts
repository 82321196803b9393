// Where prompts' activations lie along a direction: their mean at one position of each prompt (offset from its end),
// at the direction's site, layer by layer, and its projection h·v̂ on the direction. Axes: activations [batch, seq, dModel] (collected
// by collectActivations) → per layer, the mean [dModel] → one projection per layer.
import type { Hook } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import type { ChatMessage, ChatTokenizer } from '../model/tokenizer.ts';
import { collectActivations, pooledMean } from './collect.ts';
import { promptIds, type Sample } from './positions.ts';
import { dot, norm, type Direction } from './direction.ts';
import { UserError } from '../util/log.ts';

/**
 * The mean activation of the prompts at the direction's site, per layer, read at `position` from the end of each
 * rendered prompt (−1: the last token, where a refusal is decided). [nLayers][dModel]
 */
export function meanActivationsAt(model: Model, tok: ChatTokenizer, prompts: ChatMessage[][], d: Direction, o: { hooks?: Hook[]; position?: number } = {}): Float64Array[] {
  if (d.dModel !== model.config.dModel || d.nLayers !== model.config.nLayers) {
    throw new UserError(`projection: the direction (${d.nLayers} layers × ${d.dModel}) is not of this model (${model.config.nLayers} × ${model.config.dModel})`);
  }
  const position = o.position ?? -1;
  const samples: Sample[] = prompts.map((m, i) => {
    const ids = promptIds(tok, m);
    if (ids.length + position < 0) throw new UserError(`projection: prompt ${i + 1} has ${ids.length} tokens, fewer than position ${position} needs`);
    return { ids, slots: [[ids.length + position]] };
  });
  return pooledMean(collectActivations(model, samples, { site: d.provenance.site, hooks: o.hooks, label: 'collect projections' }));
}

/** h·v̂ per layer for mean activations [nLayers][dModel] (the mean of the projections: projection is linear); null where v = 0. */
export function projectOn(means: ArrayLike<number>[], d: Direction): (number | null)[] {
  return means.map((h, l) => {
    const v = d.vectors[l], n = norm(v);
    return n > 0 ? dot(h, v) / n : null;
  });
}
