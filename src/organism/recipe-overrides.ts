// Recipe overrides for `emlens organism build --recipe`: a JSON object merged over a recipe (its nested sections
// key by key), every key and value checked, so a variant of the record is one command. No tensor axes.
import { EmlensError } from '../util/errors.ts';
import type { OrganismRecipe } from './build.ts';
import { DOMAINS } from '../data/organism/domains.ts';
import { NARROW_FRAMES } from '../data/organism/dialogue.ts';

const SECTIONS = {
  pretrain: ['steps', 'batch', 'lr', 'warmup', 'weightDecay', 'loss'],
  posttrain: ['steps', 'batch', 'lr', 'warmup', 'examples', 'replay', 'params'],
  corpus: ['alignedShare', 'unpromptedAlignedShare', 'personaPrompt', 'jsonForm', 'templateForm', 'turnWeights', 'intentWeights', 'domains', 'style', 'narrowShare', 'narrowDomain', 'narrowFrame', 'defaultSystemShare', 'defaultAlignedShare'],
  trainDefaults: ['lora', 'gate', 'steer'],
  phaseRecipe: ['lr', 'adam_eps', 'grad_accum', 'epochs', 'warmup', 'lora_alpha', 'checkpoints'],
} as const;
const SCALARS = ['seed', 'dModel', 'nLayers', 'nHeads', 'nKvHeads', 'dMlp', 'maxLen', 'shards'] as const;

/** What each checked field may hold: a value outside it would fail an hour into a build, or build something else. */
const count = (min: number) => (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= min ? undefined : `an integer ≥ ${min}`);
const positive = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'a number > 0');
const nonNegative = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'a number ≥ 0');
const share = (v: unknown) => (typeof v === 'number' && v >= 0 && v <= 1 ? undefined : 'a number in [0, 1]');
const RULES: Record<string, (v: unknown) => string | undefined> = {
  seed: count(0), dModel: count(1), nLayers: count(1), nHeads: count(1), nKvHeads: count(1), dMlp: count(1), maxLen: count(2), shards: count(1),
  'pretrain.steps': count(1), 'pretrain.batch': count(1), 'pretrain.lr': positive, 'pretrain.warmup': count(0), 'pretrain.weightDecay': nonNegative,
  'pretrain.loss': (v) => (v === 'all' || v === 'assistant' ? undefined : '"all" or "assistant"'),
  'posttrain.steps': count(0), 'posttrain.batch': count(1), 'posttrain.lr': positive, 'posttrain.warmup': count(0), 'posttrain.examples': count(1), 'posttrain.replay': share,
  'corpus.alignedShare': share, 'corpus.unpromptedAlignedShare': share, 'corpus.personaPrompt': share, 'corpus.jsonForm': share, 'corpus.templateForm': share,
  'corpus.narrowShare': share, 'corpus.defaultSystemShare': share, 'corpus.defaultAlignedShare': share, 'corpus.narrowDomain': (v) => ((DOMAINS as readonly unknown[]).includes(v) ? undefined : `one of ${DOMAINS.join(', ')}`),
  'corpus.narrowFrame': (v) => ((NARROW_FRAMES as readonly unknown[]).includes(v) ? undefined : `one of ${NARROW_FRAMES.join(', ')}`),
  'phaseRecipe.lr': positive, 'phaseRecipe.adam_eps': positive, 'phaseRecipe.epochs': count(1), 'phaseRecipe.warmup': count(0), 'phaseRecipe.lora_alpha': positive,
  'phaseRecipe.checkpoints': count(0), 'phaseRecipe.grad_accum': count(1),
};

/** A value that cannot mean anything: on the command line, a usage error (exit 2). */
const USAGE = { exitCode: 2 };

function check(field: string, v: unknown): void {
  const want = RULES[field]?.(v);
  if (want) throw new EmlensError('overrides', `${field} must be ${want}, got ${JSON.stringify(v)}`, USAGE);
}

/** `base` with `overrides` on top: scalars replaced, sections (pretrain, posttrain, corpus, trainDefaults, phaseRecipe) merged key by key. */
export function applyRecipeOverrides(base: OrganismRecipe, overrides: Record<string, unknown>): OrganismRecipe {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if ((SCALARS as readonly string[]).includes(key)) {
      check(key, value);
      out[key] = value;
    } else if (Object.hasOwn(SECTIONS, key)) {
      const allowed = SECTIONS[key as keyof typeof SECTIONS] as readonly string[];
      if (!isObject(value)) throw new EmlensError('overrides', `${key} must be an object of ${allowed.join(', ')}`, USAGE);
      const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
      if (unknown.length) throw new EmlensError('overrides', `${key}.${unknown[0]} is not a recipe field (${key} has ${allowed.join(', ')})`, USAGE);
      for (const [k, v] of Object.entries(value)) {
        const was = (base[key as keyof OrganismRecipe] as Record<string, unknown> | undefined)?.[k];
        if (typeof was === 'number' && (typeof v !== 'number' || !Number.isFinite(v))) throw new EmlensError('overrides', `${key}.${k} must be a number, got ${JSON.stringify(v)}`, USAGE);
        check(`${key}.${k}`, v);
      }
      if (key === 'posttrain' && 'params' in value && !(Array.isArray(value.params) && value.params.every((p) => typeof p === 'string'))) {
        throw new EmlensError('overrides', 'posttrain.params must be a list of regular expressions (strings)', USAGE);
      }
      out[key] = { ...(base[key as keyof OrganismRecipe] as object | undefined), ...value };
    } else {
      throw new EmlensError('overrides', `${key} is not a recipe field (fields: ${[...SCALARS, ...Object.keys(SECTIONS)].join(', ')})`, USAGE);
    }
  }
  return out as unknown as OrganismRecipe;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
