// Full fine-tuning as an adapter: the model's weights (every one, or those whose HF name a --params regex selects) as
// variables, saved as a whole HF checkpoint folder any command takes as --model. Axes as in model/modules.ts.
import * as tf from '@tensorflow/tfjs';
import type { Model } from '../model/modules.ts';
import { toTrainable, weightNames } from '../model/trainable.ts';
import { saveModel } from '../model/save.ts';
import { EmlensError } from '../util/errors.ts';

export interface FullOptions {
  /** A regular expression searched in each weight's HF name (model.layers.2.self_attn.q_proj.weight …); default every weight. */
  params?: string;
}

export interface FullFineTune {
  /** The base model it was made from (its other weights are shared with it). */
  base: Model;
  /** The base with the selected weights swapped for `variables`. */
  model: Model;
  variables: tf.Variable[];
  params?: string;
}

/** The selected weights of `base` as variables at their base values (the fine-tuned model equals the base). */
export function createFullFineTune(base: Model, o: FullOptions = {}): FullFineTune {
  const select = weightSelector(base, o.params);
  const { model, variables } = toTrainable(base, select);
  return { base, model, variables, params: o.params };
}

/** `options.params` (`--params`): a regex over HF weight names; an invalid one, or one that selects nothing, is an error naming some names. */
function weightSelector(base: Model, params: string | undefined): (name: string) => boolean {
  if (params === undefined) return () => true;
  let re: RegExp;
  try {
    re = new RegExp(params);
  } catch (e) {
    throw new EmlensError('options.params', `not a regular expression (${(e as Error).message})`, { value: params, exitCode: 2 });
  }
  const names = weightNames(base);
  if (!names.some((n) => re.test(n))) {
    const examples = [...new Set([names[0], ...names.filter((n) => /^model\.layers\.0\./.test(n)), ...names.slice(-2)])];
    throw new EmlensError('options.params', `selects none of the model's ${names.length} weights (HF names such as ${examples.join(', ')})`, { value: params, exitCode: 2 });
  }
  return (name) => re.test(name);
}

/** The fine-tuned model as an HF folder (config.json, model.safetensors, the base's tokenizer files). */
export function saveFullFineTune(ft: FullFineTune, dir: string): void {
  saveModel(ft.model, dir, { configExtra: { emlens_full_finetune: { params: ft.params ?? null, trained_weights: ft.variables.length } } });
}

/** The model to run: the base with the trained weights (a model other than the base is a programming error). */
export function withFullFineTune(model: Model, ft: FullFineTune): Model {
  if (model.weights !== ft.base.weights) throw new Error('full fine-tune: attached to a model other than the one it was made from');
  return ft.model;
}

export function disposeFullFineTune(ft: FullFineTune): void {
  tf.dispose(ft.variables); // the base's tensors stay: each variable holds its own reference
}
