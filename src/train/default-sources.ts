// The training defaults that apply to one model and adapter kind, each with where it comes from (the model's own card
// in config.json, the adapter kind's anchor, or the Model Organisms rank-1 recipe): what `emlens train` fills unset
// flags with, and what its --help shows. No tensor axes.
import type { Model } from '../model/modules.ts';
import { DEFAULT_LR, TRAIN_DEFAULTS, modelTrainDefaults, recommendedDefaults } from './defaults.ts';
import type { AdapterKind } from '../adapters/adapter.ts';

export type { AdapterKind } from '../adapters/adapter.ts';

/** The flags a model card or an anchor may set (camelCase, as commander names them). */
export const RECIPE_FLAGS = ['rank', 'alpha', 'rslora', 'epochs', 'lr', 'batch', 'gradAccum', 'warmup', 'weightDecay'] as const;
export type RecipeFlag = (typeof RECIPE_FLAGS)[number];

export interface DefaultWithSource {
  value: number | boolean;
  /** card: the model's config.json "emlens_train_defaults"; anchor: the kind's paper (gates: seed 000); recipe: the rank-1 recipe. */
  from: 'card' | 'anchor' | 'recipe' | 'emlens';
  /** Words for the help text. */
  source: string;
}

const ANCHOR: Record<AdapterKind, string> = {
  lora: 'the papers\' rank-1 recipe',
  gate: "seed 000's gate recipe",
  steer: 'emlens (no paper recipe for steering vectors)',
  full: 'emlens (a full SFT\'s usual rate)',
};

/** Every recipe flag's default for this model and kind, and its source. */
export function trainDefaultsFor(model: Pick<Model, 'config'>, kind: AdapterKind): Record<RecipeFlag, DefaultWithSource> {
  const card = modelTrainDefaults(model, kind) as Partial<Record<RecipeFlag, number | boolean>>;
  const rec = recommendedDefaults(model, kind) as Partial<Record<RecipeFlag, number | boolean>>;
  const out = {} as Record<RecipeFlag, DefaultWithSource>;
  for (const flag of RECIPE_FLAGS) {
    if (card[flag] !== undefined) out[flag] = { value: card[flag]!, from: 'card', source: "the model's card" };
    else if (rec[flag] !== undefined) out[flag] = { value: rec[flag]!, from: 'anchor', source: ANCHOR[kind] };
    else if (flag === 'lr') out[flag] = { value: DEFAULT_LR[kind], from: kind === 'steer' || kind === 'full' ? 'emlens' : 'anchor', source: ANCHOR[kind] };
    else out[flag] = { value: TRAIN_DEFAULTS[flag], from: 'recipe', source: ANCHOR.lora };
  }
  return out;
}
