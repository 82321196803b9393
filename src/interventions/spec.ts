// One description of what is put on top of a model for a measurement (adapter, LoRA-B projection, gates with λ,
// steering, ablation) and the one place that turns it into a model and hooks. Axes: vectors [dModel]; hooked [batch, seq, dModel].
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hook, HookSite } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import { disposeLora, loadLora, withLora, type LoraAdapter } from '../adapters/lora.ts';
import { GATE_CONFIG, disposeGates, gateHooks, loadGates, type Gates } from '../adapters/gates.ts';
import { STEER_CONFIG, disposeSteeringVectors, loadSteeringVectors, steeringVectorHooks, type SteeringVectors } from '../adapters/steering-vector.ts';
import { Direction } from '../directions/direction.ts';
import type { VectorLayout } from '../directions/imported.ts';
import { EmlensError } from '../util/errors.ts';
import { steeringHook } from './steer.ts';
import { ablationHooks, type AblationMode } from './ablate.ts';
import { projectLoraB, residualWritingModules } from './lora-projection.ts';

/**
 * Where a vector comes from: a direction file (.safetensors, one row per layer), a JSON file holding an array of dModel
 * numbers, a Direction, or the numbers themselves.
 */
export type VectorSource = string | Direction | ArrayLike<number>;

/**
 * Which row of a multi-layer direction an intervention uses (the CLI's `--direction-layer`, cli.md): `row` when given,
 * else the direction's own best layer — whatever block it acts at. A one-row direction, a JSON vector or plain
 * numbers have one vector: `row` does not apply.
 */
export interface SteerIntervention {
  /** Block whose output (`site`, default resid_post) gets α·v: `--steer L:α:VEC`'s L. Default: the direction's best layer. */
  layer?: number;
  alpha: number;
  direction: VectorSource;
  /** Row of a direction file (`--direction-layer`); default its best layer. Name it (`row: layer`) for "row L at block L". */
  row?: number;
  site?: HookSite;
  /** 'all' (default): prompt and generated tokens; 'prompt': the prompt's positions only. */
  positions?: 'all' | 'prompt';
}

export interface AblateIntervention {
  direction: VectorSource;
  /** Row of a direction file (`--direction-layer`); default its best layer. */
  row?: number;
  /** 'resid' (default): resid_pre and resid_post; 'full': also attention and MLP outputs (`--ablate-mode`). */
  mode?: AblationMode;
  /** Blocks to ablate at (`--ablate-layers`); default every block. */
  layers?: number[];
}

export interface LoraProjection {
  direction: VectorSource;
  /** Row of a direction file for every module (`--direction-layer`); default: each module's own layer's row. */
  row?: number;
}

/** What to put on top of a model; plain data when every vector is a path, so it can key a cache and be replayed by flags. */
export interface InterventionSpec {
  /** A PEFT LoRA folder, a gate or steering-vector folder, or a run folder holding one in adapter/ (`--adapter`). */
  adapter?: string;
  /** A direction projected out of the adapter LoRA's residual-writing B, ‖B‖ kept (`--ablate-lora`, research.md §2). */
  loraProjection?: LoraProjection;
  /** Alignment gates: a folder from `train --adapter gate`, or its gates.safetensors (`--gates`). */
  gates?: string;
  /** λ of every gate set (`gates`, or a gate `adapter`): 1 amplify, −1 reverse (2 − g), 0 off (`--gate-scale`). Default 1. */
  gateScale?: number;
  steer?: SteerIntervention[];
  ablate?: AblateIntervention;
  /** How the rows of another tool's [R, d] vector files map to blocks (`--vector-layout`); default from R. */
  layout?: VectorLayout;
}

/** A model with a spec applied: use `model` with `hooks`; `dispose` frees what was loaded for it, never the base model. */
export interface Applied {
  model: Model;
  hooks: Hook[];
  dispose(): void;
}

export type AdapterKind = 'lora' | 'gate' | 'steer';

/** A PEFT LoRA folder, a gate or steering-vector folder, or a run folder holding one of them in adapter/. */
export function findAdapter(path: string, param = 'adapter'): { kind: AdapterKind; dir: string } {
  for (const dir of [path, join(path, 'adapter')]) {
    if (existsSync(join(dir, 'adapter_config.json'))) return { kind: 'lora', dir };
    if (existsSync(join(dir, GATE_CONFIG))) return { kind: 'gate', dir };
    if (existsSync(join(dir, STEER_CONFIG))) return { kind: 'steer', dir };
  }
  // a full fine-tune (`train --adapter full`) leaves a whole model there, not an adapter
  const model = [path, join(path, 'adapter')].find((d) => existsSync(join(d, 'config.json')) && existsSync(join(d, 'model.safetensors')));
  if (model) throw new EmlensError(param, `${path}: ${model} is a model folder (a full fine-tune), not an adapter; give it as the model (modelDir ${model})`, { mentions: ['modelDir'] });
  throw new EmlensError(param, `${path}: no adapter_config.json, ${GATE_CONFIG} or ${STEER_CONFIG} there or in ${join(path, 'adapter')}`);
}

/**
 * A vector source read once, giving its vector at a row: a direction's row (default its best layer), or the one vector
 * of a JSON file or of plain numbers. Axes: [dModel]. Direction files are parsed by Direction.load only.
 */
export function vectorSource(src: VectorSource, dModel: number, param: string, o: { nLayers?: number; layout?: VectorLayout } = {}): (row?: number) => Float32Array {
  let rows: ((row?: number) => ArrayLike<number>) | undefined;
  let name = param;
  if (src instanceof Direction) {
    rows = (row) => src.at(row);
  } else if (typeof src === 'string') {
    name = src;
    const json = isJsonVectorFile(src);
    if (json === undefined) throw new EmlensError(param, `${src}: vector file not found`);
    if (json) {
      const v = readJsonVector(src, param);
      rows = () => v;
    } else {
      // every tensor file (emlens direction files, other tools' .pt / .npy / .safetensors) is read by Direction.load
      const d = Direction.load(src, { nLayers: o.nLayers, layout: o.layout });
      rows = (row) => {
        if (row === undefined && d.provenance.best_layer === undefined) throw new EmlensError(param, `${src}: no best layer recorded; name the row`);
        if (row !== undefined && (row < 0 || row >= d.nLayers)) throw new EmlensError(param, `${src}: layer ${row} is out of range (0..${d.nLayers - 1})`);
        return d.at(row);
      };
    }
  } else {
    const v = src;
    rows = () => v;
  }
  return (row) => {
    const v = Float32Array.from(rows(row));
    if (v.length !== dModel) throw new EmlensError(param, `${name === param ? 'the' : `${name}:`} vector has ${v.length} numbers, the model's dModel is ${dModel}`);
    return v;
  };
}

/** true: a JSON file (an array of numbers, or not JSON at all); false: a tensor file; undefined: nothing there. */
function isJsonVectorFile(path: string): boolean | undefined {
  if (/\.json$/i.test(path)) {
    if (!existsSync(path)) return undefined;
    // a direction file's .json sidecar names its direction file
    return !(existsSync(path.replace(/\.json$/i, '.safetensors')) && !readFileSync(path, 'utf8').trimStart().startsWith('['));
  }
  const bare = path.replace(/#[^/#]+$/, ''); // FILE#KEY: one tensor of several
  if (!existsSync(path) && !existsSync(bare) && !existsSync(`${path}.safetensors`)) return undefined;
  return false;
}

function readJsonVector(path: string, param: string): number[] {
  let arr: unknown;
  try {
    arr = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new EmlensError(param, `${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new EmlensError(param, `${path}: expected a JSON array of numbers`);
  return arr as number[];
}

/** The best layer a direction source records (for a steer without `layer`); undefined for plain vectors. */
function bestLayerOf(src: VectorSource, o: { nLayers: number; layout?: VectorLayout }): number | undefined {
  if (src instanceof Direction) return src.provenance.best_layer;
  if (typeof src === 'string' && isJsonVectorFile(src) === false) return Direction.load(src, o).provenance.best_layer;
  return undefined;
}

function checkLayer(layer: number, nLayers: number, param: string): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= nLayers) throw new EmlensError(param, `layer ${layer} is out of range (the model has layers 0..${nLayers - 1})`);
}

/**
 * The model and hooks a spec describes, on top of `model` (whose weights are shared, never changed). Order of the
 * hooks: adapter's (gates or steering vectors), `gates`, `steer` in order, `ablate`. Call `dispose` when done.
 */
export function applyInterventions(model: Model, spec: InterventionSpec): Applied {
  const { nLayers, dModel } = model.config;
  const files = { nLayers, layout: spec.layout }; // how other tools' vector files are laid out on blocks
  const hooks: Hook[] = [];
  const loras: LoraAdapter[] = [];
  const gateSets: Gates[] = [];
  const vectors: SteeringVectors[] = [];
  const dispose = () => {
    loras.forEach(disposeLora);
    gateSets.forEach(disposeGates);
    vectors.forEach(disposeSteeringVectors);
  };
  try {
    const gateScale = spec.gateScale ?? 1;
    if (!Number.isFinite(gateScale)) throw new EmlensError('spec.gateScale', `${gateScale} is not a number`);
    let out = model;
    const adapter = spec.adapter === undefined ? undefined : findAdapter(spec.adapter, 'spec.adapter');
    if (spec.loraProjection && adapter?.kind !== 'lora') {
      throw new EmlensError('spec.loraProjection', adapter ? `${spec.adapter} is a ${adapter.kind === 'gate' ? 'gate' : 'steering-vector'} adapter, not a LoRA` : 'needs a LoRA adapter to project from');
    }
    if (adapter?.kind === 'lora') {
      let lora = loadLora(adapter.dir, model);
      loras.push(lora);
      if (spec.loraProjection) {
        if (!residualWritingModules(lora)) throw new EmlensError('spec.loraProjection', `the adapter ${spec.adapter} has no down_proj or o_proj module (nothing writes into the residual stream)`);
        const { row } = spec.loraProjection;
        if (row !== undefined) checkLayer(row, nLayers, 'spec.loraProjection.row');
        const at = vectorSource(spec.loraProjection.direction, dModel, 'spec.loraProjection.direction', files);
        const rows = new Map<number, Float32Array>(); // one read per layer, however many modules share it
        const rowAt = (l: number) => rows.get(l) ?? rows.set(l, at(l)).get(l)!;
        lora = projectLoraB(lora, (l) => rowAt(row ?? l));
        loras.push(lora);
      }
      out = withLora(out, lora);
    }
    if (adapter?.kind === 'steer') {
      const s = loadSteeringVectors(adapter.dir, model);
      vectors.push(s);
      hooks.push(...steeringVectorHooks(s));
    }
    if (adapter?.kind === 'gate') {
      const g = loadGates(adapter.dir, model, 'spec.adapter');
      gateSets.push(g);
      hooks.push(...gateHooks(g, gateScale));
    }
    if (spec.gates !== undefined) {
      const g = loadGates(spec.gates, model, 'spec.gates');
      gateSets.push(g);
      hooks.push(...gateHooks(g, gateScale));
    }
    hooks.push(...vectorHooks(spec, model.config));
    return { model: out, hooks, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/**
 * The hooks of a spec's steering and ablation alone (no adapter or gates: nothing to load or free), for a model of
 * these sizes; applyInterventions adds them after the adapter's and the gates'.
 */
export function vectorHooks(spec: Pick<InterventionSpec, 'steer' | 'ablate' | 'layout'>, dims: { nLayers: number; dModel: number }): Hook[] {
  const { nLayers, dModel } = dims;
  const files = { nLayers, layout: spec.layout };
  const hooks: Hook[] = [];
  (spec.steer ?? []).forEach((s, i) => {
    const param = `spec.steer[${i}]`;
    if (!Number.isFinite(s.alpha)) throw new EmlensError(`${param}.alpha`, `${s.alpha} is not a number`);
    const layer = s.layer ?? bestLayerOf(s.direction, files);
    if (layer === undefined) throw new EmlensError(`${param}.layer`, 'needed: the vector records no best layer');
    checkLayer(layer, nLayers, `${param}.layer`);
    hooks.push(steeringHook({ layer, alpha: s.alpha, vector: vectorSource(s.direction, dModel, `${param}.direction`, files)(s.row), site: s.site, positions: s.positions }));
  });
  if (spec.ablate) {
    const a = spec.ablate;
    a.layers?.forEach((l, i) => checkLayer(l, nLayers, `spec.ablate.layers[${i}]`));
    const mode = a.mode ?? 'resid';
    if (mode !== 'resid' && mode !== 'full') throw new EmlensError('spec.ablate.mode', `${String(mode)}: expected resid or full`);
    hooks.push(...ablationHooks(vectorSource(a.direction, dModel, 'spec.ablate.direction', files)(a.row), nLayers, a.layers, mode));
  }
  return hooks;
}

/** The file paths a spec reads (adapter, gates, vector files), for cache keys. */
export function specFiles(spec: InterventionSpec): string[] {
  const vec = (v: VectorSource | undefined) => (typeof v === 'string' ? [v] : []);
  return [
    ...(spec.adapter !== undefined ? [spec.adapter] : []), ...(spec.gates !== undefined ? [spec.gates] : []),
    ...vec(spec.loraProjection?.direction), ...(spec.steer ?? []).flatMap((s) => vec(s.direction)), ...vec(spec.ablate?.direction),
  ];
}
