// runWithCache(lm, input, { hooks }) → an ActivationCache (TransformerLens's run_with_cache): the logits and every
// activation at the chosen sites, read by site and layer. Axes: activations [batch, seq, width]; stack [nLayers, batch, seq, width].
import * as tf from '@tensorflow/tfjs';
import { forward } from '../model/transformer.ts';
import { HOOK_SITES, hookNames, type Hook, type HookName, type HookSite } from '../model/hooks.ts';
import type { ChatMessage } from '../model/tokenizer.ts';
import { EmlensError } from '../util/errors.ts';
import type { LanguageModel } from './language-model.ts';

export interface RunWithCacheOptions {
  hooks?: Hook[];
  /** Sites to keep, at every layer (default: all seven). */
  sites?: HookSite[];
}

/** The activations of one forward pass; tensors belong to the cache until `dispose`. */
export class ActivationCache {
  constructor(readonly logits: tf.Tensor3D, private readonly acts: Partial<Record<HookName, tf.Tensor>>, readonly nLayers: number, readonly ids: number[][]) {}

  /** The activation at `site` of block `layer`: [batch, seq, width]. */
  get(site: HookSite, layer: number): tf.Tensor3D {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.nLayers) throw new EmlensError('layer', `${layer} is out of range (0..${this.nLayers - 1})`);
    const t = this.acts[hookNames.site(site, layer)];
    if (!t) throw new EmlensError('site', `${site} was not cached (pass it in options.sites)`);
    return t as tf.Tensor3D;
  }

  /** Every layer's activation at `site`, stacked: [nLayers, batch, seq, width] (a new tensor: the caller disposes it). */
  stack(site: HookSite): tf.Tensor4D {
    const parts = Array.from({ length: this.nLayers }, (_, l) => this.get(site, l));
    return tf.stack(parts) as tf.Tensor4D;
  }

  dispose(): void {
    tf.dispose([this.logits, ...Object.values(this.acts).filter((t): t is tf.Tensor => t !== undefined)]);
  }
}

/**
 * One forward pass with `hooks`, keeping the activations at `sites` (after the hooks at each point ran). `input`: token
 * ids (one row or a batch of equal length), a text (sent as one user message through the chat template, assistant turn
 * opened), or a chat.
 */
export function runWithCache(lm: LanguageModel, input: string | ChatMessage[] | number[] | number[][], o: RunWithCacheOptions = {}): ActivationCache {
  const ids = toIds(lm, input);
  const sites = o.sites ?? HOOK_SITES;
  const bad = sites.find((s) => !HOOK_SITES.includes(s));
  if (bad) throw new EmlensError('options.sites', `${bad}: expected one of ${HOOK_SITES.join(', ')}`);
  const names = Array.from({ length: lm.nLayers }, (_, l) => sites.map((s) => hookNames.site(s, l))).flat();
  const r = forward(lm.model, ids, { hooks: o.hooks, cache: names });
  return new ActivationCache(r.logits!, r.activations, lm.nLayers, ids);
}

function toIds(lm: LanguageModel, input: string | ChatMessage[] | number[] | number[][]): number[][] {
  if (typeof input === 'string') return [lm.chatIds([{ role: 'user', content: input }])];
  if (!Array.isArray(input) || !input.length) throw new EmlensError('input', 'expected a text, a chat, or token ids');
  if (typeof input[0] === 'number') return [input as number[]];
  if (Array.isArray(input[0])) {
    const rows = input as number[][];
    if (rows.some((r) => r.length !== rows[0].length)) throw new EmlensError('input', 'rows of token ids must have one length (pad them, or run them one by one)');
    return rows;
  }
  return [lm.chatIds(input as ChatMessage[])];
}
