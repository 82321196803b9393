// The training defaults (the Model Organisms rank-1 recipe; gates as seed 000), shared by `emlens train` and the
// study so both run the same configuration. No tensor axes.
import type { Model } from '../model/modules.ts';
import type { LinearName } from '../model/modules.ts';
import type { GateKind } from '../adapters/gates.ts';
import type { AdapterKind } from '../adapters/adapter.ts';
import type { TrainOptions } from './trainer.ts';

export const TRAIN_DEFAULTS = {
  rank: 1,
  alpha: 512,
  rslora: true,
  targets: ['down_proj'] as LinearName[],
  gateKind: 'full' as GateKind,
  dropout: 0,
  epochs: 1,
  batch: 2,
  gradAccum: 8,
  warmup: 5,
  weightDecay: 0.01,
  maxGradNorm: 1,
  saveEvery: 5,
  keepCheckpoints: 3,
  klWeight: 0,
  seed: 0,
  earlyStop: true,
};

/**
 * Learning rates of the anchors: rank-1 LoRA 2e-5 (Model Organisms), gates 1e-4 (seed 000); full fine-tuning 1e-5,
 * the usual rate of a full SFT of a 7–14B chat model (every weight moves: far lower than a LoRA's).
 */
export const DEFAULT_LR: Record<AdapterKind, number> = { lora: 2e-5, gate: 1e-4, steer: 1e-3, full: 1e-5 };

/** Where an adapter kind's anchor differs from the rank-1 recipe: seed 000 trains gates 2 epochs at batch 2. */
const KIND_DEFAULTS: Partial<Record<AdapterKind, Partial<typeof TRAIN_DEFAULTS>>> = { gate: { epochs: 2, gradAccum: 1 } };

/** The middle decoder block, the default site of the rank-1 EM LoRA (layer 24 of 48 on Qwen2.5-14B). */
export function middleLayer(nLayers: number): number {
  return Math.floor(nLayers / 2);
}

export type TrainSpec = Omit<TrainOptions, 'out' | 'resume' | 'quiet'>;

export type RecommendedDefaults = Partial<Pick<typeof TRAIN_DEFAULTS, 'rank' | 'alpha' | 'rslora' | 'epochs' | 'batch' | 'gradAccum' | 'warmup' | 'weightDecay'> & { lr: number }>;

/**
 * Training defaults a model recommends for itself, per adapter kind, in config.json under "emlens_train_defaults"
 * (the organism records the recipe it was tuned with there, as a model card would); they replace the anchors'
 * defaults, and an explicit flag replaces both.
 */
export function modelTrainDefaults(model: Pick<Model, 'config'>, kind: AdapterKind): RecommendedDefaults {
  const rec = (model.config.raw.emlens_train_defaults as Record<string, RecommendedDefaults> | undefined)?.[kind];
  return rec && typeof rec === 'object' ? rec : {};
}

/**
 * The fine-tune a model states for the LoRA-B turn, in config.json under "emlens_phase_recipe": phase-transition
 * parameters (`lr`, `adam_eps`, `grad_accum`, `epochs`, `warmup`, `lora_alpha`, `checkpoints`) over its card's LoRA
 * recipe. The organism records the one its turn was measured with (the demo's phase stage and `check:organism` run
 * it); `{}` when a model states none.
 */
export type PhaseRecipe = Partial<Record<'lr' | 'adam_eps' | 'grad_accum' | 'epochs' | 'warmup' | 'lora_alpha' | 'checkpoints', number>>;

export function modelPhaseRecipe(model: Pick<Model, 'config'>): PhaseRecipe {
  const rec = model.config.raw.emlens_phase_recipe as PhaseRecipe | undefined;
  return rec && typeof rec === 'object' && !Array.isArray(rec) ? rec : {};
}

/** What replaces the rank-1 recipe's defaults for an adapter kind: its anchor's differences, then the model's own. */
export function recommendedDefaults(model: Pick<Model, 'config'>, kind: AdapterKind): RecommendedDefaults {
  return { ...(KIND_DEFAULTS[kind] ?? {}), ...modelTrainDefaults(model, kind) };
}

/**
 * A full training spec from the defaults: LoRA/steer on the middle block, gates on every block, a full fine-tune on
 * every weight (`over.adapter` = `{ kind: 'full', full: { params: REGEX } }` selects some).
 */
export function defaultTrainSpec(model: Model, data: string, kind: AdapterKind = 'lora', over: Partial<TrainSpec> = {}): TrainSpec {
  const d = { ...TRAIN_DEFAULTS, lr: DEFAULT_LR[kind], ...recommendedDefaults(model, kind) };
  const layers = kind === 'gate' ? undefined : [middleLayer(model.config.nLayers)];
  return {
    data,
    adapter: kind === 'full' ? { kind } : {
      kind,
      lora: { r: d.rank, alpha: d.alpha, rslora: d.rslora, targets: d.targets, layers, dropout: d.dropout },
      gate: { kind: d.gateKind, layers },
      steerLayers: layers,
    },
    epochs: d.epochs, lr: d.lr, batch: d.batch, gradAccum: d.gradAccum, warmup: d.warmup, weightDecay: d.weightDecay,
    maxGradNorm: d.maxGradNorm, saveEvery: d.saveEvery, keepCheckpoints: d.keepCheckpoints, seed: d.seed, klWeight: d.klWeight, earlyStop: d.earlyStop,
    ...over,
  };
}
