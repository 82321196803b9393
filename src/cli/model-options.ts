// The options every computing command shares: --model (default: the organism), --backend, --adapter, --steer, --ablate,
// --ablate-lora.
// Turns them into a loaded model (with adapters) and a list of intervention hooks. Vectors are [dModel].
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { activeBackend, initBackend, isBackendChoice, setWasmThreads, type BackendChoice } from '../backend/select.ts';
import { loadModel } from '../model/load.ts';
import { ChatTokenizer } from '../model/tokenizer.ts';
import type { Hook } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import { disposeLora, loadLora, withLora, type LoraAdapter } from '../adapters/lora.ts';
import { GATE_CONFIG, gateHooks, loadGates } from '../adapters/gates.ts';
import { STEER_CONFIG, loadSteeringVectors, steeringVectorHooks } from '../adapters/steering-vector.ts';
import { parseInteger, parseNumber } from './parse.ts';
import { steeringHook } from '../interventions/steer.ts';
import { ablationHooks } from '../interventions/ablate.ts';
import { projectLoraB, residualWritingModules } from '../interventions/lora-projection.ts';
import { readVector } from '../interventions/vector-file.ts';
import { UsageError, UserError } from '../util/log.ts';
import { ORGANISM_DIR } from './paths.ts';

export interface ModelOpts {
  model?: string;
  backend: string;
  adapter?: string;
  steer?: string[];
  ablate?: string;
  ablateLayers?: string;
  ablateMode?: string;
  ablateLora?: string;
  directionLayer?: string;
  gates?: string;
  gateScale?: string;
}

export function addBackendOption(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'tfjs backend: auto|tensorflow|webgpu|wasm|cpu').default('auto'))
    .addOption(new Option('--threads <n>', 'wasm threads (default: every core, at most 8; 1: the single-threaded build)'))
    .hook('preAction', (c) => {
      const t = c.opts().threads as string | undefined;
      if (t !== undefined && !/^[1-9]\d*$/.test(t)) throw new UsageError(`--threads ${t}: expected a positive integer`);
      setWasmThreads(t === undefined ? undefined : Number(t));
    });
}

export function addModelOptions(cmd: Command, { interventions = true } = {}): Command {
  cmd.option('--model <dir>', 'HF model folder (default: the built-in organism)');
  addBackendOption(cmd);
  if (interventions) {
    cmd
      .option('--adapter <dir>', 'PEFT LoRA folder, or an emlens run folder (uses RUN/adapter: LoRA, gates or steering vector)')
      .option('--gates <path>', 'alignment gates: a folder from `emlens train --adapter gate` or its gates.safetensors')
      .option('--gate-scale <λ>', 'gate scale: 1 amplify, -1 reverse (2 − g), 0 off', '1')
      .option('--steer <L:ALPHA:VEC>', 'add ALPHA·VEC to resid_post of layer L (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
      .option('--ablate <VEC>', 'project VEC out of resid_pre and resid_post of every block')
      .option('--ablate-layers <list>', 'only ablate at these blocks (e.g. 3,4,5)')
      .option('--ablate-mode <mode>', "resid: resid_pre and resid_post of each block; full: also each attention and MLP output (Arditi et al.; what `orthogonalize` bakes in)", 'resid')
      .option('--ablate-lora <VEC>', "project VEC out of the --adapter LoRA's B (down_proj/o_proj), ‖B‖ kept; a direction file gives each module its own layer's row")
      .option('--direction-layer <L>', 'row of a direction file to use (default: its best layer)');
  }
  return cmd;
}

export function resolveModelDir(dir: string | undefined): string {
  if (dir) {
    if (!existsSync(dir)) throw new UserError(`--model ${dir}: folder not found`);
    return dir;
  }
  if (!existsSync(join(ORGANISM_DIR, 'config.json'))) {
    throw new UserError(`the built-in organism is not built yet (${ORGANISM_DIR}); pass --model DIR or run \`emlens organism build\``);
  }
  return ORGANISM_DIR;
}

export async function startBackend(name: string): Promise<void> {
  if (!isBackendChoice(name)) throw new UsageError(`--backend ${name}: expected auto, tensorflow, webgpu, wasm or cpu`);
  await initBackend(name as BackendChoice);
}

export interface LoadedModel {
  dir: string;
  model: Model;
  /** The model as loaded, before any adapter (shares its weights with `model`). */
  base: Model;
  hooks: Hook[];
  tokenizer?: ChatTokenizer;
}

/** Backend, model, adapters and interventions from the shared flags. */
export async function loadFromOptions(o: ModelOpts, { tokenizer = false } = {}): Promise<LoadedModel> {
  await startBackend(o.backend);
  const dir = resolveModelDir(o.model);
  if (o.ablateLora && !o.adapter) throw new UsageError('--ablate-lora: needs a LoRA --adapter to ablate it from');
  const base = loadModel(dir);
  let model = base;
  const hooks: Hook[] = [];
  if (o.adapter) {
    const a = findAdapter(o.adapter);
    if (o.ablateLora && a.kind !== 'lora') throw new UserError(`--ablate-lora: --adapter ${o.adapter} is a ${a.kind === 'gate' ? 'gate' : 'steering-vector'} adapter, not a LoRA`);
    if (a.kind === 'lora') model = withLora(model, ablatedLora(o, loadLora(a.dir, model), model));
    if (a.kind === 'steer') hooks.push(...steeringVectorHooks(loadSteeringVectors(a.dir, model)));
    if (a.kind === 'gate') hooks.push(...gateHooks(loadGates(a.dir, model), gateScale(o)));
  }
  if (o.gates) hooks.push(...gateHooks(loadGates(o.gates, model), gateScale(o)));
  hooks.push(...interventionHooks(o, model));
  return { dir, model, base, hooks, tokenizer: tokenizer ? ChatTokenizer.load(dir) : undefined };
}

/** What the shared flags put on top of the model, as a saved result records it (flags not given are left out). */
export function interventionRecord(o: ModelOpts, dir: string): Record<string, unknown> {
  const r: Record<string, unknown> = {
    model: dir, adapter: o.adapter, gates: o.gates, gate_scale: o.gates || (o.adapter && findAdapter(o.adapter).kind === 'gate') ? Number(o.gateScale ?? '1') : undefined, steer: o.steer,
    ablate: o.ablate, ablate_layers: o.ablateLayers, ablate_mode: o.ablate ? o.ablateMode ?? 'resid' : undefined, ablate_lora: o.ablateLora, direction_layer: o.directionLayer, backend: activeBackend(),
  };
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
}

/** The LoRA with --ablate-lora's vector projected out of its residual-writing B (research.md §2), else as loaded. */
function ablatedLora(o: ModelOpts, lora: LoraAdapter, model: Model): LoraAdapter {
  if (!o.ablateLora) return lora;
  if (!residualWritingModules(lora)) throw new UserError(`--ablate-lora: the adapter ${o.adapter} has no down_proj or o_proj module (nothing writes into the residual stream)`);
  const dirLayer = directionLayer(o);
  const file = o.ablateLora;
  const rows = new Map<number, Float32Array>(); // one read per layer, however many modules share it
  const rowAt = (layer: number) => rows.get(layer) ?? rows.set(layer, readVector(file, model.config.dModel, layer)).get(layer)!;
  const projected = projectLoraB(lora, (layer) => rowAt(dirLayer ?? layer));
  disposeLora(lora);
  return projected;
}

function gateScale(o: ModelOpts): number {
  return parseNumber(o.gateScale ?? '1', '--gate-scale', () => true, 'a number');
}

/** A PEFT LoRA folder, a gate or steering-vector folder, or a run folder holding one of them in adapter/. */
export function findAdapter(p: string): { kind: 'lora' | 'gate' | 'steer'; dir: string } {
  for (const dir of [p, join(p, 'adapter')]) {
    if (existsSync(join(dir, 'adapter_config.json'))) return { kind: 'lora', dir };
    if (existsSync(join(dir, GATE_CONFIG))) return { kind: 'gate', dir };
    if (existsSync(join(dir, STEER_CONFIG))) return { kind: 'steer', dir };
  }
  throw new UserError(`--adapter ${p}: no adapter_config.json, ${GATE_CONFIG} or ${STEER_CONFIG} there or in ${join(p, 'adapter')}`);
}

/** --direction-layer: the row of a direction file every vector flag reads (undefined: each file's best layer). */
export function directionLayer(o: { directionLayer?: string }): number | undefined {
  return o.directionLayer === undefined ? undefined : parseInteger(o.directionLayer, '--direction-layer');
}

export function interventionHooks(o: ModelOpts, model: Model): Hook[] {
  const { nLayers, dModel } = model.config;
  const dirLayer = directionLayer(o);
  const hooks: Hook[] = [];
  for (const spec of o.steer ?? []) {
    const m = /^([^:]+):([^:]+):(.+)$/.exec(spec);
    if (!m) throw new UsageError(`--steer ${spec}: expected L:ALPHA:VEC (e.g. 12:8:em.safetensors)`);
    const layer = parseInteger(m[1], `--steer ${spec}`);
    if (layer < 0 || layer >= nLayers) throw new UsageError(`--steer ${spec}: layer ${layer} is out of range (the model has ${nLayers} layers)`);
    const alpha = Number(m[2]);
    if (!Number.isFinite(alpha)) throw new UsageError(`--steer ${spec}: ALPHA "${m[2]}" is not a number`);
    hooks.push(steeringHook({ layer, alpha, vector: readVector(m[3], dModel, dirLayer) }));
  }
  if (o.ablate) {
    const layers = o.ablateLayers?.split(',').map((s) => {
      const l = parseInteger(s, '--ablate-layers');
      if (l < 0 || l >= nLayers) throw new UsageError(`--ablate-layers: layer ${l} is out of range (0..${nLayers - 1})`);
      return l;
    });
    const mode = o.ablateMode ?? 'resid';
    if (mode !== 'resid' && mode !== 'full') throw new UsageError(`--ablate-mode ${mode}: expected resid or full`);
    hooks.push(...ablationHooks(readVector(o.ablate, dModel, dirLayer), nLayers, layers, mode));
  }
  return hooks;
}
