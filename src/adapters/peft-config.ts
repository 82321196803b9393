// Reads and writes PEFT's adapter_config.json for LoRA, and answers which modules of which layers it targets.
// No tensor axes.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/log.ts';
import { checkInt, checkNumber, optional } from '../util/validate.ts';
import { readTextFile } from '../util/fs.ts';
import { ATTN_LINEARS, LINEAR_NAMES, type LinearName } from '../model/modules.ts';

export interface LoraConfig {
  r: number;
  loraAlpha: number;
  useRslora: boolean;
  targetModules: string[] | string;
  layersToTransform?: number[];
  loraDropout: number;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  /** Modules left out although targeted (PEFT's exclude_modules: a list of names or one regular expression). */
  excludeModules?: string[] | string;
  /** Where the decoder's layers sit in the model's weight names ("model.", or "model.language_model." for a
   * multimodal Gemma 3): PEFT names and matches modules by that full path. Set from the model; not in the file. */
  modulePrefix?: string;
  /** Everything else in the file, kept so a round trip writes it back. */
  raw: Record<string, unknown>;
}

export function readLoraConfig(dir: string): LoraConfig {
  const path = join(dir, 'adapter_config.json');
  if (!existsSync(path)) throw new UserError(`${dir}: no adapter_config.json (not a PEFT adapter folder)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readTextFile(path));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError(`${path}: expected a JSON object of settings`);
  if (raw.peft_type !== undefined && raw.peft_type !== 'LORA') throw new UserError(`${path}: peft_type ${raw.peft_type} is not supported (LORA only)`);
  if (raw.use_dora) throw new UserError(`${path}: DoRA adapters are not supported`);
  if (Array.isArray(raw.modules_to_save) && raw.modules_to_save.length) throw new UserError(`${path}: modules_to_save is not supported`);
  if (raw.bias && raw.bias !== 'none') throw new UserError(`${path}: bias "${raw.bias}" is not supported (only "none")`);
  // every number checked once, naming the key: a string or a NaN would otherwise fall back to a default silently
  const r = checkInt(raw.r, path, 'r', { min: 1 });
  const loraAlpha = optional(raw.lora_alpha, 8, (v) => checkNumber(v, path, 'lora_alpha'));
  const loraDropout = optional(raw.lora_dropout, 0, (v) => checkNumber(v, path, 'lora_dropout', { min: 0, max: 1, exclusiveMax: true }));
  if (raw.use_rslora !== undefined && raw.use_rslora !== null && typeof raw.use_rslora !== 'boolean') throw new UserError(`${path}: "use_rslora" must be true or false, not ${JSON.stringify(raw.use_rslora)}`);
  const patterns = (k: 'rank_pattern' | 'alpha_pattern'): Record<string, number> => {
    const v = raw[k];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${path}: "${k}" must be an object of module pattern → number`);
    for (const [key, x] of Object.entries(v)) (k === 'rank_pattern' ? checkInt(x, path, `${k}.${key}`, { min: 1 }) : checkNumber(x, path, `${k}.${key}`));
    return v as Record<string, number>;
  };
  const rankPattern = patterns('rank_pattern'), alphaPattern = patterns('alpha_pattern');
  const tm = raw.target_modules;
  if (tm !== undefined && tm !== null && typeof tm !== 'string' && !(Array.isArray(tm) && tm.every((x) => typeof x === 'string'))) throw new UserError(`${path}: "target_modules" must be a list of module names or one regular expression, not ${JSON.stringify(tm)}`);
  // features that add weights or reshape the model: refused rather than loaded without them
  for (const k of ['lora_bias', 'trainable_token_indices', 'layer_replication', 'target_parameters', 'fan_in_fan_out', 'use_qalora']) {
    const v = raw[k];
    if (v !== undefined && v !== null && v !== false && !(Array.isArray(v) && !v.length)) throw new UserError(`${path}: ${k} ${JSON.stringify(v)} is not supported`);
  }
  for (const k of ['target_modules', 'exclude_modules']) {
    if (typeof raw[k] === 'string' && raw[k] !== 'all-linear') {
      try {
        new RegExp(raw[k] as string);
      } catch (e) {
        throw new UserError(`${path}: ${k} "${raw[k]}" is not a regular expression this runtime reads (${(e as Error).message})`);
      }
    }
  }
  const ltt = raw.layers_to_transform;
  if (ltt !== undefined && ltt !== null) {
    for (const [i, l] of (Array.isArray(ltt) ? ltt : [ltt]).entries()) checkInt(l, path, Array.isArray(ltt) ? `layers_to_transform[${i}]` : 'layers_to_transform', { min: 0 });
  }
  return {
    r,
    loraAlpha,
    useRslora: Boolean(raw.use_rslora),
    targetModules: (raw.target_modules as string[] | string | undefined) ?? [],
    layersToTransform: typeof ltt === 'number' ? [ltt] : Array.isArray(ltt) ? ltt.map(Number) : undefined,
    loraDropout,
    rankPattern,
    alphaPattern,
    excludeModules: (raw.exclude_modules as string[] | string | null | undefined) ?? undefined,
    raw,
  };
}

/** PEFT's key match: the pattern equals the module path or is a dotted suffix of it. */
function matchesKey(path: string, key: string): boolean {
  try {
    return new RegExp(`^(.*\\.)?(${key})$`).test(path);
  } catch {
    return path === key || path.endsWith(`.${key}`);
  }
}

/** Module path PEFT sees, e.g. model.layers.3.mlp.down_proj (prefix: where the model's layers sit). */
export function modulePath(layer: number, name: LinearName, prefix = 'model.'): string {
  return `${prefix}layers.${layer}.${ATTN_LINEARS.includes(name) ? 'self_attn' : 'mlp'}.${name}`;
}

export function isTargeted(cfg: LoraConfig, layer: number, name: LinearName): boolean {
  if (cfg.layersToTransform && !cfg.layersToTransform.includes(layer)) return false;
  const path = modulePath(layer, name, cfg.modulePrefix);
  const ex = cfg.excludeModules;
  if (ex && (typeof ex === 'string' ? new RegExp(`^(?:${ex})$`).test(path) : ex.some((k) => matchesKey(path, k)))) return false;
  const t = cfg.targetModules;
  if (typeof t === 'string') return t === 'all-linear' ? LINEAR_NAMES.includes(name) : new RegExp(`^(?:${t})$`).test(path);
  return t.some((k) => matchesKey(path, k));
}

/** Rank and scale (alpha / r, or alpha / sqrt(r) with rsLoRA) of one module, honouring rank/alpha patterns. */
export function moduleRankAndScale(cfg: LoraConfig, layer: number, name: LinearName): { r: number; scale: number } {
  const path = modulePath(layer, name, cfg.modulePrefix);
  const pick = (pattern: Record<string, number>, dflt: number) => {
    const key = Object.keys(pattern).find((k) => matchesKey(path, k));
    return key === undefined ? dflt : pattern[key];
  };
  const r = pick(cfg.rankPattern, cfg.r);
  const alpha = pick(cfg.alphaPattern, cfg.loraAlpha);
  return { r, scale: cfg.useRslora ? alpha / Math.sqrt(r) : alpha / r };
}

/** adapter_config.json as PEFT 0.21 writes it (same keys, PEFT's defaults), so PeftModel.from_pretrained reads it. */
export function peftConfigJson(cfg: LoraConfig, model: { config: { raw: Record<string, unknown>; modelType: string }; source?: string }): Record<string, unknown> {
  const arch = Array.isArray(model.config.raw.architectures) ? String(model.config.raw.architectures[0]) : undefined;
  const modelType = model.config.modelType;
  return {
    // PEFT 0.21's defaults, then a loaded adapter's own values for what we do not model (layers_pattern, task_type,
    // revision …: a round trip keeps them), then what this adapter is
    alora_invocation_tokens: null,
    arrow_config: null,
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    kasa_config: null,
    layer_replication: null,
    layers_pattern: null,
    loftq_config: {},
    lora_bias: false,
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: 'megatron.core',
    monteclora_config: null,
    peft_version: '0.21.0',
    qalora_group_size: 16,
    revision: null,
    target_parameters: null,
    task_type: 'CAUSAL_LM',
    trainable_token_indices: null,
    use_bdlora: null,
    use_qalora: false,
    velora_config: null,
    ...passThrough(cfg.raw),
    alpha_pattern: cfg.alphaPattern,
    auto_mapping: arch ? { base_model_class: arch, parent_library: `transformers.models.${modelType.replace(/_text$/, '')}.modeling_${modelType.replace(/_text$/, '')}` } : null,
    base_model_name_or_path: model.source ?? null,
    bias: 'none',
    exclude_modules: cfg.excludeModules ?? null,
    layers_to_transform: cfg.layersToTransform ?? null,
    lora_alpha: cfg.loraAlpha,
    lora_dropout: cfg.loraDropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: cfg.rankPattern,
    target_modules: cfg.targetModules,
    use_dora: false,
    use_rslora: cfg.useRslora,
  };
}

/** The keys of a loaded adapter_config.json this file does not write from the LoraConfig itself. */
function passThrough(raw: Record<string, unknown>): Record<string, unknown> {
  const modeled = new Set(['alpha_pattern', 'auto_mapping', 'base_model_name_or_path', 'bias', 'exclude_modules', 'layers_to_transform', 'lora_alpha', 'lora_dropout', 'modules_to_save', 'peft_type', 'r', 'rank_pattern', 'target_modules', 'use_dora', 'use_rslora']);
  return Object.fromEntries(Object.entries(raw ?? {}).filter(([k]) => !modeled.has(k)));
}
