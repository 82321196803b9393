// The options every computing command shares: --model (default: the organism), --backend, --adapter, --steer, --ablate,
// --ablate-lora.
// Turns them into a loaded model (with adapters) and a list of intervention hooks. Vectors are [dModel].
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { activeBackend, initBackend, isBackendChoice, setWasmThreads, type BackendChoice } from '../backend/select.ts';
import { loadModel } from '../model/load.ts';
import { loadConfig } from '../model/config.ts';
import { ChatTokenizer } from '../model/tokenizer.ts';
import type { Hook } from '../model/hooks.ts';
import type { Model } from '../model/modules.ts';
import { parseInteger, parseNumber } from './parse.ts';
import { applyInterventions, findAdapter as findAdapterIn, type InterventionSpec } from '../interventions/spec.ts';
import { EmlensError } from '../util/errors.ts';
import { withFlag } from './flags.ts';
import { Direction } from '../directions/direction.ts';
import { UsageError, UserError, log } from '../util/log.ts';
import { LAYOUT_HELP, parseVectorLayout } from '../directions/imported.ts';
import { adapterBaseModel, parseHubId, resolveLocalOrHub, sameBaseModel } from '../model/hub-cache.ts';
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
  vectorLayout?: string;
}

export function addBackendOption(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'tfjs backend: auto|tensorflow|webgpu|wasm|cpu').default('auto'))
    .addOption(new Option('--threads <n>', 'wasm threads: N > 1 runs the threaded-SIMD build with N threads (at most 8); default 1, the faster on organism-sized work (BENCHMARKS.md)'))
    .hook('preAction', (c) => {
      const t = c.opts().threads as string | undefined;
      if (t !== undefined && !/^[1-9]\d*$/.test(t)) throw new UsageError(`--threads ${t}: expected a positive integer`);
      setWasmThreads(t === undefined ? undefined : Number(t));
    });
}

export function addModelOptions(cmd: Command, { interventions = true } = {}): Command {
  cmd.option('--model <dir>', 'HF model folder, or a hub id ORG/NAME[@REV] from the local Hugging Face cache (never downloaded; default: the --adapter\'s base_model_name_or_path, else the built-in organism)');
  addBackendOption(cmd);
  if (interventions) {
    cmd
      .option('--adapter <dir>', 'PEFT LoRA folder (or its hub id ORG/NAME from the local Hugging Face cache), or an emlens run folder (uses RUN/adapter: LoRA, gates or steering vector)')
      .option('--gates <path>', 'alignment gates: a folder from `emlens train --adapter gate` or its gates.safetensors, or Alignment Gating\'s gating_params.pth')
      .option('--gate-scale <λ>', 'gate scale: 1 amplify, -1 reverse (2 − g), 0 off', '1')
      .option('--steer <L:ALPHA:VEC>', 'add ALPHA·VEC to resid_post of layer L (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
      .option('--ablate <VEC>', 'project VEC out of resid_pre and resid_post of every block')
      .option('--ablate-layers <list>', 'only ablate at these blocks (e.g. 3,4,5)')
      .option('--ablate-mode <mode>', "resid: resid_pre and resid_post of each block; full: also each attention and MLP output (Arditi et al.; what `orthogonalize` bakes in)", 'resid')
      .option('--ablate-lora <VEC>', "project VEC out of the --adapter LoRA's B (down_proj/o_proj), ‖B‖ kept; a direction file gives each module its own layer's row")
      .option('--direction-layer <L>', 'row of a direction file to use (default: its best layer)')
      .option('--vector-layout <layout>', `${LAYOUT_HELP}; the mapping is recorded with the results`);
  }
  return cmd;
}

/**
 * --model as a folder, else as a hub id from the local Hugging Face cache; without --model, the base model a PEFT
 * --adapter names (base_model_name_or_path, a folder or a cached hub id), else the built-in organism.
 */
export function resolveModelDir(dir: string | undefined, adapter?: string): string {
  const base = adapter ? adapterBaseModel(resolveAdapterPath(adapter)) : undefined;
  if (dir) {
    const found = resolveLocalOrHub(dir, 'model');
    if (!found) throw new UserError(`--model ${dir}: folder not found`);
    if (base && !sameBaseModel(found, base)) log(`warning: --adapter ${adapter} was trained on ${base} (its base_model_name_or_path), --model is ${dir}`);
    return found;
  }
  if (base && (existsSync(base) || parseHubId(base))) {
    const found = resolveLocalOrHub(base, `--adapter ${adapter}: its base model`)!;
    log(`model: ${base} (the --adapter's base_model_name_or_path)`);
    return found;
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
  /** The intervention the flags describe (applied: `model` and `hooks` are its result). */
  spec: InterventionSpec;
}

/** Backend, model, adapters and interventions from the shared flags. */
export async function loadFromOptions(o: ModelOpts, { tokenizer = false } = {}): Promise<LoadedModel> {
  await startBackend(o.backend);
  const dir = resolveModelDir(o.model, o.adapter);
  if (o.ablateLora && !o.adapter) throw new UsageError('--ablate-lora: needs a LoRA --adapter to ablate it from');
  const base = loadModel(dir);
  const spec = specFromOptions(o, base.config.nLayers);
  const { model, hooks } = withFlagNames(() => applyInterventions(base, spec));
  return { dir, model, base, hooks, spec, tokenizer: tokenizer ? ChatTokenizer.load(dir) : undefined };
}

/** Runs f, saying a library error about a spec parameter as the flag that set it. */
function withFlagNames<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw withFlag(e);
  }
}

/** What the shared flags put on top of the model, as a saved result records it (flags not given are left out). */
export function interventionRecord(o: ModelOpts, dir: string): Record<string, unknown> {
  const r: Record<string, unknown> = {
    model: dir, adapter: o.adapter, gates: o.gates, gate_scale: o.gates || (o.adapter && findAdapter(o.adapter).kind === 'gate') ? Number(o.gateScale ?? '1') : undefined, steer: o.steer,
    ablate: o.ablate, ablate_layers: o.ablateLayers, ablate_mode: o.ablate ? o.ablateMode ?? 'resid' : undefined, ablate_lora: o.ablateLora, direction_layer: o.directionLayer, vector_layout: o.vectorLayout, vector_files: vectorMappings(o, dir), backend: activeBackend(),
  };
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
}

/** How each of another tool's vector files (.pt, .npy …) was laid out on the blocks (--vector-layout or inferred). */
function vectorMappings(o: ModelOpts, dir: string): Record<string, string> | undefined {
  const files = [...(o.steer ?? []).map((s) => s.replace(/^[^:]+:[^:]+:/, '')), o.ablate, o.ablateLora].filter((f): f is string => !!f && !/\.json$/i.test(f));
  if (!files.length) return undefined;
  const out: Record<string, string> = {};
  try {
    const nLayers = loadConfig(dir).nLayers;
    for (const f of files) {
      const d = Direction.load(f, { nLayers, layout: parseVectorLayout(o.vectorLayout, 'vectorLayout') });
      if (d.provenance.details?.layout && d.provenance.notes) out[f] = d.provenance.notes;
    }
  } catch {
    // the files were read when the interventions were applied; a record is no place for a second error
  }
  return Object.keys(out).length ? out : undefined;
}

function gateScale(o: ModelOpts): number {
  return parseNumber(o.gateScale ?? '1', '--gate-scale', () => true, 'a number');
}

/** A PEFT LoRA folder, a gate or steering-vector folder, or a run folder holding one of them in adapter/. */
export function findAdapter(p: string): { kind: 'lora' | 'gate' | 'steer'; dir: string } {
  return withFlagNames(() => findAdapterIn(resolveAdapterPath(p), 'spec.adapter'));
}

/** --adapter as a folder, else as a hub id from the local Hugging Face cache (a missing one: its error). */
export function resolveAdapterPath(p: string): string {
  return resolveLocalOrHub(p, 'spec.adapter') ?? p;
}

/** --direction-layer: the row of a direction file every vector flag reads (undefined: each file's best layer). */
export function directionLayer(o: { directionLayer?: string }): number | undefined {
  return o.directionLayer === undefined ? undefined : parseInteger(o.directionLayer, '--direction-layer');
}

/**
 * The InterventionSpec the shared flags describe (cli.md: a direction file's row is --direction-layer's, else the
 * file's best layer, for every vector flag; `--steer L:α:VEC` acts at block L whichever row it reads).
 */
export function specFromOptions(o: ModelOpts, nLayers: number): InterventionSpec {
  const row = directionLayer(o);
  const spec: InterventionSpec = {};
  if (o.adapter) spec.adapter = resolveAdapterPath(o.adapter);
  if (o.ablateLora) spec.loraProjection = { direction: o.ablateLora, row };
  if (o.vectorLayout) spec.layout = parseVectorLayout(o.vectorLayout, 'vectorLayout');
  if (o.gates) spec.gates = o.gates;
  const scale = gateScale(o);
  if (scale !== 1) spec.gateScale = scale;
  if (o.steer?.length) {
    spec.steer = o.steer.map((s) => {
      const m = /^([^:]+):([^:]+):(.+)$/.exec(s);
      if (!m) throw new UsageError(`--steer ${s}: expected L:ALPHA:VEC (e.g. 12:8:em.safetensors)`);
      const layer = parseInteger(m[1], `--steer ${s}`);
      if (layer < 0 || layer >= nLayers) throw new UsageError(`--steer ${s}: layer ${layer} is out of range (the model has ${nLayers} layers)`);
      const alpha = Number(m[2]);
      if (!Number.isFinite(alpha)) throw new UsageError(`--steer ${s}: ALPHA "${m[2]}" is not a number`);
      return { layer, alpha, direction: m[3], row };
    });
  }
  if (o.ablate) {
    const layers = o.ablateLayers?.split(',').map((s) => {
      const l = parseInteger(s, '--ablate-layers');
      if (l < 0 || l >= nLayers) throw new UsageError(`--ablate-layers: layer ${l} is out of range (0..${nLayers - 1})`);
      return l;
    });
    const mode = o.ablateMode ?? 'resid';
    if (mode !== 'resid' && mode !== 'full') throw new UsageError(`--ablate-mode ${mode}: expected resid or full`);
    spec.ablate = { direction: o.ablate, row, mode, layers };
  }
  return JSON.parse(JSON.stringify(spec)) as InterventionSpec; // undefined fields left out, as a cache key wants
}

/**
 * The flags that replay a spec (specFromOptions' inverse): a report cell's intervention as a command line. Refuses
 * what flags cannot say: in-memory vectors, a steering site or positions other than the defaults, or vector rows that
 * differ (--direction-layer is one row for every vector flag).
 */
export function flagsFromSpec(spec: InterventionSpec): string[] {
  const flags: string[] = [];
  const rows = new Set<number | undefined>();
  const path = (v: unknown, param: string): string => {
    if (typeof v !== 'string') throw new EmlensError(param, 'an in-memory vector has no command line: save it as a direction file');
    return v;
  };
  if (spec.adapter !== undefined) flags.push('--adapter', spec.adapter);
  if (spec.layout) flags.push('--vector-layout', spec.layout);
  if (spec.loraProjection) {
    flags.push('--ablate-lora', path(spec.loraProjection.direction, 'spec.loraProjection.direction'));
    rows.add(spec.loraProjection.row);
  }
  if (spec.gates !== undefined) flags.push('--gates', spec.gates);
  if (spec.gateScale !== undefined && spec.gateScale !== 1) flags.push('--gate-scale', String(spec.gateScale));
  (spec.steer ?? []).forEach((s, i) => {
    if ((s.site ?? 'resid_post') !== 'resid_post' || (s.positions ?? 'all') !== 'all') throw new EmlensError(`spec.steer[${i}]`, '--steer adds at resid_post at every position only');
    const file = path(s.direction, `spec.steer[${i}].direction`);
    const layer = s.layer ?? (file.endsWith('.safetensors') ? Direction.load(file).provenance.best_layer : undefined);
    if (layer === undefined) throw new EmlensError(`spec.steer[${i}].layer`, 'needed: the vector records no best layer');
    flags.push('--steer', `${layer}:${s.alpha}:${file}`);
    rows.add(s.row);
  });
  if (spec.ablate) {
    const a = spec.ablate;
    flags.push('--ablate', path(a.direction, 'spec.ablate.direction'));
    if (a.layers) flags.push('--ablate-layers', a.layers.join(','));
    if (a.mode && a.mode !== 'resid') flags.push('--ablate-mode', a.mode);
    rows.add(a.row);
  }
  if (rows.size > 1) throw new EmlensError('spec', `vectors read at different rows (${[...rows].map((r) => r ?? 'default').join(', ')}): --direction-layer names one row for every vector flag`);
  const [row] = rows;
  if (row !== undefined) flags.push('--direction-layer', String(row));
  return flags;
}
