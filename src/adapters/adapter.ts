// One interface over the trainable adapters (LoRA, gates, steering vectors, full fine-tuning) for the trainer:
// its variables, how it attaches to a model (wrapped linears and/or hooks), how it saves. Axes: see each adapter.
import * as tf from '@tensorflow/tfjs';
import type { Hook } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import { createLora, loraVariables, saveLora, withLora, disposeLora, type LoraAdapter, type LoraOptions, type LoraDropout } from './lora.ts';
import { createGates, gateHooks, gateVariables, saveGates, disposeGates, type Gates, type GateKind } from './gates.ts';
import { createSteeringVectors, steeringVectorHooks, steeringVariables, saveSteeringVectors, disposeSteeringVectors, type SteeringVectors } from './steering-vector.ts';
import { createFullFineTune, disposeFullFineTune, saveFullFineTune, withFullFineTune, type FullFineTune, type FullOptions } from './full.ts';

export type AdapterKind = 'lora' | 'gate' | 'steer' | 'full';

export interface TrainableAdapter {
  kind: AdapterKind;
  variables(): tf.Variable[];
  /** The model and hooks to run with the adapter on; `dropout` is set while training (LoRA only). */
  attach(model: Model, dropout?: LoraDropout): { model: Model; hooks: Hook[] };
  /**
   * The lowest block the adapter changes: blocks below it (and the embedding) compute the same with or without it, so
   * training runs them outside the gradient tape. 0 when the embedding or block 0 is changed.
   */
  firstLayer(): number;
  save(dir: string, model: Model): void;
  dispose(): void;
  lora?: LoraAdapter;
  gates?: Gates;
  steering?: SteeringVectors;
  full?: FullFineTune;
}

export function loraTrainable(lora: LoraAdapter): TrainableAdapter {
  return {
    kind: 'lora',
    lora,
    variables: () => loraVariables(lora),
    attach: (model, dropout) => ({ model: withLora(model, lora, dropout && lora.config.loraDropout > 0 ? dropout : undefined), hooks: [] }),
    firstLayer: () => lowest([...lora.modules.values()].map((m) => m.layer)),
    save: (dir, model) => saveLora(lora, dir, model),
    dispose: () => disposeLora(lora),
  };
}

export function gateTrainable(gates: Gates): TrainableAdapter {
  return {
    kind: 'gate',
    gates,
    variables: () => gateVariables(gates),
    attach: (model) => ({ model, hooks: gateHooks(gates, 1) }),
    firstLayer: () => lowest([...gates.layers.keys()]),
    save: (dir) => saveGates(gates, dir),
    dispose: () => disposeGates(gates),
  };
}

export function steerTrainable(s: SteeringVectors): TrainableAdapter {
  return {
    kind: 'steer',
    steering: s,
    variables: () => steeringVariables(s),
    attach: (model) => ({ model, hooks: steeringVectorHooks(s, true) }),
    firstLayer: () => lowest([...s.vectors.keys()]),
    save: (dir) => saveSteeringVectors(s, dir),
    dispose: () => disposeSteeringVectors(s),
  };
}

/** Full fine-tuning: `save` writes a whole HF model folder (the base's tokenizer files copied), not an adapter. */
export function fullTrainable(full: FullFineTune): TrainableAdapter {
  return {
    kind: 'full',
    full,
    variables: () => full.variables,
    attach: (model) => ({ model: withFullFineTune(model, full), hooks: [] }),
    firstLayer: () => 0, // the embedding is among the weights a full fine-tune may train
    save: (dir) => saveFullFineTune(full, dir),
    dispose: () => disposeFullFineTune(full),
  };
}

const lowest = (layers: number[]) => (layers.length ? Math.min(...layers) : 0);

export interface AdapterSpec {
  kind: AdapterKind;
  lora?: LoraOptions;
  gate?: { kind: GateKind; rank?: number; layers?: number[] };
  steerLayers?: number[];
  /** Full fine-tuning: which weights (default every one). */
  full?: FullOptions;
  seed?: number;
}

/** A fresh adapter at identity (the adapted model equals the base; a full fine-tune starts at the base's weights). */
export function createAdapter(model: Model, spec: AdapterSpec): TrainableAdapter {
  switch (spec.kind) {
    case 'lora':
      return loraTrainable(createLora(model, { ...spec.lora!, seed: spec.seed }));
    case 'gate':
      return gateTrainable(createGates(model, { ...spec.gate!, seed: spec.seed }));
    case 'steer':
      return steerTrainable(createSteeringVectors(model, spec.steerLayers ?? [Math.floor(model.config.nLayers / 2)]));
    case 'full':
      return fullTrainable(createFullFineTune(model, spec.full));
  }
}
