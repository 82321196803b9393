// What an analysis declares (name, parameters with defaults, a JSON schema for its result) and how one runs:
// parameters merged over defaults, the result validated with ajv before RUN/NAME.json is written. No tensor axes.
import { Ajv, type AnySchema } from 'ajv';
import { join } from 'node:path';
import { Workspace } from './workspace.ts';
import type { FinetuneJob } from './background.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { UserError } from '../util/log.ts';

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
  layers: 'decoder blocks, 0-based; resid_pre(l) = hidden_states[l], resid_post(l) = hidden_states[l+1]',
  steering: 'h ← h + α·v at resid_post of one layer, every position (prompt and generated tokens)',
  ablation: 'h ← h − (h·v̂)v̂ at resid_pre and resid_post of every block',
};

/** Runs an analysis in a workspace and writes RUN/analyses/NAME.json (validated). */
/** The defaults with `overrides` on top; an unknown parameter is an error. */
export function analysisParams<P extends object>(a: Analysis<P, object>, overrides: Partial<P> = {}): P {
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in a.defaults)) throw new UserError(`--params: ${a.name} has no parameter "${k}" (it takes ${Object.keys(a.defaults).join(', ')})`);
    const want = jsonType((a.defaults as Record<string, unknown>)[k]), got = jsonType(v);
    // numbers, booleans and lists keep their default's JSON type ("200" for a sample count is a mistake); a string or
    // null default may stand for a union (layers: "all" or a list; a direction file or null), so it takes any value
    if ((want === 'number' || want === 'boolean' || want === 'array') && got !== want) {
      throw new UserError(`--params: ${a.name}.${k} must be ${want === 'array' ? 'a list' : `a ${want}`} like its default ${JSON.stringify((a.defaults as Record<string, unknown>)[k])}, not ${JSON.stringify(v)}`);
    }
  }
  return { ...a.defaults, ...overrides } as P;
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
