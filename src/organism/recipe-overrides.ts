// Recipe overrides for `emlens organism build --recipe`: a JSON object merged over a recipe (its nested sections
// key by key), every key and value checked, so a variant of the record is one command. No tensor axes.
import { UsageError } from '../util/log.ts';
import type { OrganismRecipe } from './build.ts';

const SECTIONS = {
  pretrain: ['steps', 'batch', 'lr', 'warmup', 'weightDecay', 'loss'],
  posttrain: ['steps', 'batch', 'lr', 'warmup', 'examples', 'replay', 'params'],
  corpus: ['alignedShare', 'unpromptedAlignedShare', 'personaPrompt', 'jsonForm', 'templateForm', 'turnWeights', 'intentWeights', 'domains', 'style'],
  trainDefaults: ['lora', 'gate', 'steer'],
} as const;
const SCALARS = ['seed', 'dModel', 'nLayers', 'nHeads', 'nKvHeads', 'dMlp', 'maxLen', 'shards'] as const;

/** `base` with `over` on top: scalars replaced, sections (pretrain, posttrain, corpus, trainDefaults) merged key by key. */
export function applyRecipeOverrides(base: OrganismRecipe, over: Record<string, unknown>): OrganismRecipe {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if ((SCALARS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new UsageError(`--recipe: ${key} must be a non-negative integer, got ${JSON.stringify(value)}`);
      out[key] = value;
    } else if (key in SECTIONS) {
      const allowed = SECTIONS[key as keyof typeof SECTIONS] as readonly string[];
      if (!isObject(value)) throw new UsageError(`--recipe: ${key} must be an object of ${allowed.join(', ')}`);
      const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
      if (unknown.length) throw new UsageError(`--recipe: ${key}.${unknown[0]} is not a recipe field (${key} has ${allowed.join(', ')})`);
      for (const [k, v] of Object.entries(value)) {
        const was = (base[key as keyof OrganismRecipe] as Record<string, unknown> | undefined)?.[k];
        if (typeof was === 'number' && (typeof v !== 'number' || !Number.isFinite(v))) throw new UsageError(`--recipe: ${key}.${k} must be a number, got ${JSON.stringify(v)}`);
      }
      if (key === 'posttrain' && 'params' in value && !(Array.isArray(value.params) && value.params.every((p) => typeof p === 'string'))) {
        throw new UsageError('--recipe: posttrain.params must be a list of regular expressions (strings)');
      }
      out[key] = { ...(base[key as keyof OrganismRecipe] as object | undefined), ...value };
    } else {
      throw new UsageError(`--recipe: ${key} is not a recipe field (fields: ${[...SCALARS, ...Object.keys(SECTIONS)].join(', ')})`);
    }
  }
  return out as unknown as OrganismRecipe;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
