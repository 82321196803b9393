// What an analysis declares (name, parameters with defaults, a JSON schema for its result) and how one runs:
// parameters merged over defaults, the result validated with ajv before RUN/NAME.json is written. No tensor axes.
import { Ajv, type AnySchema, type JSONSchemaType } from 'ajv';
import { join } from 'node:path';
import { Workspace } from './workspace.ts';
import type { FinetuneJob } from './background.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { EmlensError } from '../util/errors.ts';
import { LAYER_CONVENTION } from '../util/conventions.ts';

export interface Analysis<P extends object = Record<string, unknown>, R extends object = Record<string, unknown>> {
  name: string;
  description: string;
  /** Defaults of every parameter; a --params file overrides any subset. */
  defaults: P;
  /** JSON schema of the result (checked before anything is written). */
  resultSchema: AnySchema;
  run(ws: Workspace, params: P): Promise<R>;
  /** The fine-tunes run() will train in this workspace, in the order it needs them (a study trains them ahead). */
  finetunes?(ws: Workspace, params: P): FinetuneJob[];
}

const ajv = new Ajv({ allErrors: true, strict: false });

/**
 * The report contract: each analysis exports its result type (`XResult`) and, beside it, `X_RESULT_SCHEMA` typed
 * `JSONSchemaType<XResult>`, so that tsc fails when the two disagree; every object schema lists all its properties as
 * required and admits no others (a field that may be null is `orNull(schema)`), so a result that drifts from its type
 * fails validation before it is written. Readers (server, viz, findings) import the type instead of re-declaring it.
 */
export type ResultSchema<R> = JSONSchemaType<R>;

const NULL_SCHEMA = { type: 'null', nullable: true } as const;

/** The schema of `T | null` from T's (ajv's JSONSchemaType keeps `nullable` for optional fields, not for null). */
export const orNull = <S extends object>(schema: S) => ({ anyOf: [schema, NULL_SCHEMA] });

/** An EM eval's two rates, the cell of most analyses' tables. */
export interface EmCell {
  em: number;
  coherence: number;
}

export const EM_CELL_SCHEMA: JSONSchemaType<EmCell> = {
  type: 'object',
  required: ['em', 'coherence'],
  additionalProperties: false,
  properties: { em: { type: 'number', minimum: 0, maximum: 1 }, coherence: { type: 'number', minimum: 0, maximum: 1 } },
};

/** The cell of a rated eval report. */
export const emCell = (r: { em_rate: number; coherence: number }): EmCell => ({ em: r.em_rate, coherence: r.coherence });

export function validateResult(a: Analysis, result: unknown): void {
  const validate = ajv.compile(a.resultSchema);
  if (!validate(result)) {
    const errs = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new Error(`analysis ${a.name}: result does not match its schema: ${errs}`);
  }
}

export interface AnalysisReport<R> {
  analysis: string;
  description: string;
  params: Record<string, unknown>;
  model: string;
  conventions: { layers: string; steering: string; ablation: string };
  started_at: string;
  finished_at: string;
  result: R;
}

export const CONVENTIONS = {
  layers: LAYER_CONVENTION,
  steering: 'h ← h + α·v at resid_post of one layer, every position (prompt and generated tokens)',
  ablation: 'h ← h − (h·v̂)v̂ at resid_pre and resid_post of every block',
};

/** What marks a folder as a study's (demo or run): an --out holding one of these is continued, not refused. */
export const STUDY_FILES = ['study.json', 'report.json', 'analyses', 'finetunes'];

/** Runs an analysis in a workspace and writes RUN/analyses/NAME.json (validated). */
/** The defaults with `overrides` on top; an unknown parameter is an error. */
/**
 * A bad analysis parameter: `params` of runAnalysis (the CLI says --params), as `gating.samples must be …`; `usage`
 * (default): a value that cannot mean anything (exit 2), else a value that does not fit the data (exit 1).
 */
export function paramsError(detail: string, { usage = true } = {}): EmlensError {
  return new EmlensError('params', detail, { exitCode: usage ? 2 : 1 });
}

export function analysisParams<P extends object>(a: Analysis<P, object>, overrides: Partial<P> = {}): P {
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in a.defaults)) throw paramsError(`${a.name} has no parameter "${k}" (it takes ${Object.keys(a.defaults).join(', ')})`);
    const want = jsonType((a.defaults as Record<string, unknown>)[k]), got = jsonType(v);
    // numbers, booleans and lists keep their default's JSON type ("200" for a sample count is a mistake); a string or
    // null default may stand for a union (layers: "all" or a list; a direction file or null), so it takes any value
    if ((want === 'number' || want === 'boolean' || want === 'array') && got !== want) {
      throw paramsError(`${a.name}.${k} must be ${want === 'array' ? 'a list' : `a ${want}`} like its default ${JSON.stringify((a.defaults as Record<string, unknown>)[k])}, not ${JSON.stringify(v)}`);
    }
  }
  const params = { ...a.defaults, ...overrides } as P;
  for (const [k, v] of Object.entries(overrides)) checkParamRange(a.name, k, v);
  return params;
}

type Range = { int?: boolean; min?: number; max?: number; exclusiveMin?: boolean };

/**
 * The ranges of the parameter names analyses share (one vocabulary: a count is a positive integer, a seed a
 * non-negative one, a rate positive …), checked on what --params gives before any work: `samples: -1` would run for
 * minutes and write results with n = 0. Every number anywhere in a value must be finite.
 */
const PARAM_RANGES: Record<string, Range> = {
  samples: { int: true, min: 1 },
  cell_samples: { int: true, min: 1 },
  seed: { int: true, min: 0 },
  epochs: { int: true, min: 1 },
  gate_epochs: { int: true, min: 1 },
  save_every: { int: true, min: 1 },
  amounts: { int: true, min: 1 },
  n_aligned: { int: true, min: 0 },
  steps: { int: true, min: 1 },
  lr: { min: 0, exclusiveMin: true },
  lora_alpha: { min: 0, exclusiveMin: true },
  adam_eps: { min: 0, exclusiveMin: true },
  grad_accum: { int: true, min: 1 },
  warmup: { int: true, min: 0 },
  train_seed: { int: true, min: 0 },
  layers: { int: true, min: 0 },
  ablation_blocks: { int: true, min: 0 },
  rank: { int: true, min: 1 },
};

function checkParamRange(analysis: string, key: string, value: unknown, label = key): void {
  const where = `${analysis}.${label}`;
  const visit = (v: unknown, path: string): void => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw paramsError(`${where}${path}: ${v} is not a finite number`);
      const r = PARAM_RANGES[key];
      if (!r) return;
      const lowOk = r.min === undefined || (r.exclusiveMin ? v > r.min : v >= r.min);
      if ((r.int && !Number.isInteger(v)) || !lowOk || (r.max !== undefined && v > r.max)) {
        const want = `${r.int ? 'an integer' : 'a number'}${r.min !== undefined ? ` ${r.exclusiveMin ? '>' : '≥'} ${r.min}` : ''}${r.max !== undefined ? ` and ≤ ${r.max}` : ''}`;
        throw paramsError(`${where}${path} must be ${want}, not ${v}`);
      }
    } else if (Array.isArray(v)) {
      if (key in PARAM_RANGES && !v.length) throw paramsError(`${where}: an empty list`);
      v.forEach((x, i) => visit(x, `${path}[${i}]`));
    } else if (v && typeof v === 'object') {
      // nested settings (a fine-tune's recipe: {"lr": …, "epochs": …}) follow the same names
      for (const [k, x] of Object.entries(v)) checkParamRange(analysis, k, x, `${label}${path}.${k}`);
    }
  };
  visit(value, '');
}

export async function runAnalysis<P extends object, R extends object>(a: Analysis<P, R>, ws: Workspace, overrides: Partial<P> = {}): Promise<AnalysisReport<R>> {
  const params = analysisParams(a, overrides);
  const started = new Date().toISOString();
  const result = await a.run(ws, params);
  validateResult(a as unknown as Analysis, result);
  const report: AnalysisReport<R> = {
    analysis: a.name, description: a.description, params: params as Record<string, unknown>, model: ws.modelDir,
    conventions: CONVENTIONS, started_at: started, finished_at: new Date().toISOString(), result,
  };
  writeJsonAtomic(join(ws.runDir, 'analyses', `${a.name}.json`), report);
  return report;
}

function jsonType(v: unknown): 'null' | 'array' | 'object' | 'number' | 'string' | 'boolean' | 'other' {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'object' || t === 'number' || t === 'string' || t === 'boolean' ? t : 'other';
}
