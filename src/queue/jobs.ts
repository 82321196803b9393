// The steps a worker runs (fine-tune, EM eval, direction extraction) as job payloads: plain JSON with no paths of the coordinator's machine
// (files are `artefact:<sha256>` references into the store), JSON schemas every worker checks, and the content key
// that names each job (equal steps of any study are one job). No tensor axes.
import { Ajv, type ValidateFunction } from 'ajv';
import { canonicalJson, sha256 } from '../util/hash.ts';
import type { TrainSpec } from '../train/defaults.ts';
import type { InterventionSpec } from '../study/workspace.ts';
import type { ExtractSpec } from '../study/extractions.ts';

/** The only job names a worker accepts: emlens step kinds, never commands. */
export const STEP_KINDS = ['finetune', 'eval', 'extract'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const REF_PREFIX = 'artefact:';
const REF = '^artefact:[0-9a-f]{64}$';

/** What a reference in a payload stands for: a file (its name kept for messages) or a folder (an adapter). */
export interface ArtefactInfo {
  kind: 'file' | 'tree';
  name: string;
}

/** A model by the path (or hub id) each worker must have, and the identity the worker checks it against. */
export interface ModelRef {
  dir: string;
  identity: string;
}

interface Common {
  v: 1;
  /** The study's name for the step (logs only; not part of the key). */
  name: string;
  model: ModelRef;
  files: Record<string, ArtefactInfo>;
}

export interface FinetunePayload extends Common {
  kind: 'finetune';
  /** The study's spec with `data` and `klData` as references. */
  spec: TrainSpec;
}

/**
 * The judge a worker scores with: the organism's, or an OpenAI-compatible endpoint by its URL and model name. Never a
 * key: a worker sends the one in its own environment (EMLENS_JUDGE_API_KEY); a URL with credentials or a query
 * string is refused here (the study refuses it before queueing).
 */
export type JudgeSettings = 'organism' | { url: string; model: string };

export interface EvalPayload extends Common {
  kind: 'eval';
  /** The intervention with every file as a reference. */
  iv: InterventionSpec;
  settings: { samples: number; seed: number; questions: string; maxNewTokens: number };
  judge: JudgeSettings;
}

export interface ExtractPayload extends Common {
  kind: 'extract';
  /** The extraction with every file as a reference. */
  spec: ExtractSpec;
  /** The judge of a persona extraction (absent for the other kinds: they judge nothing). */
  judge?: JudgeSettings;
}

export type StepPayload = FinetunePayload | EvalPayload | ExtractPayload;

/** What a worker leaves in the store for a finished job (also the job's return value). */
export interface StepResult {
  kind: StepKind;
  /**
   * finetune: the run folder's manifest (adapter, run.json, metrics, lora_b.jsonl, phase.json, snapshots); eval: the report's
   * JSON; extract: a folder manifest of direction.safetensors and direction.json.
   */
  artefact: string;
  worker: string;
  /** The checkpoint step a fine-tune resumed from (0: from the start). */
  resumed_from?: number;
  timing: { fetch_ms: number; run_ms: number; put_ms: number };
}

/** The job id of a step: digest of what it computes (the model's identity, not its path; not the study's name). */
export function jobKey(p: StepPayload): string {
  return sha256(canonicalJson({ ...p, name: undefined, model: { identity: p.model.identity } }));
}

const intList = { type: 'array', items: { type: 'integer', minimum: 0 }, maxItems: 4096 };
const common = {
  v: { const: 1 },
  name: { type: 'string', maxLength: 200 },
  model: { type: 'object', additionalProperties: false, required: ['dir', 'identity'], properties: { dir: { type: 'string', minLength: 1, maxLength: 4096 }, identity: { type: 'string', pattern: '^[0-9a-f]{64}$' } } },
  files: {
    type: 'object',
    propertyNames: { pattern: REF },
    additionalProperties: { type: 'object', additionalProperties: false, required: ['kind', 'name'], properties: { kind: { enum: ['file', 'tree'] }, name: { type: 'string', maxLength: 255, pattern: '^[^/\\\\]+$' } } },
  },
};

const SPEC_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['data', 'adapter', 'epochs', 'lr', 'batch', 'gradAccum', 'warmup', 'weightDecay', 'maxGradNorm', 'saveEvery', 'keepCheckpoints', 'seed', 'klWeight', 'earlyStop'],
  properties: {
    data: { type: 'string', pattern: REF },
    klData: { type: 'string', pattern: REF },
    adapter: {
      type: 'object', additionalProperties: false, required: ['kind'],
      properties: {
        kind: { enum: ['lora', 'gate', 'steer', 'full'] },
        lora: {
          type: 'object', additionalProperties: false, required: ['r', 'alpha', 'targets'],
          properties: { r: { type: 'integer', minimum: 1 }, alpha: { type: 'number' }, rslora: { type: 'boolean' }, targets: { type: 'array', items: { type: 'string', pattern: '^[a-z_]+$' }, maxItems: 16 }, layers: intList, dropout: { type: 'number', minimum: 0, maximum: 1 }, seed: { type: 'integer' } },
        },
        gate: { type: 'object', additionalProperties: false, required: ['kind'], properties: { kind: { enum: ['full', 'diag', 'lowrank'] }, rank: { type: 'integer', minimum: 1 }, layers: intList } },
        steerLayers: intList,
        full: { type: 'object', additionalProperties: false, properties: { params: { type: 'string', maxLength: 1000 } } },
        seed: { type: 'integer' },
      },
    },
    epochs: { type: 'integer', minimum: 1 },
    lr: { type: 'number', exclusiveMinimum: 0 },
    batch: { type: 'integer', minimum: 1 },
    gradAccum: { type: 'integer', minimum: 1 },
    warmup: { type: 'integer', minimum: 0 },
    weightDecay: { type: 'number', minimum: 0 },
    maxGradNorm: { type: 'number', minimum: 0 },
    saveEvery: { type: 'integer', minimum: 0 },
    keepCheckpoints: { type: 'integer', minimum: 0 },
    snapshotSteps: { type: 'array', maxItems: 10_000, items: { type: 'integer', minimum: 1 } },
    snapshotCount: { type: 'integer', minimum: 0, maximum: 10_000 },
    seed: { type: 'integer' },
    klWeight: { type: 'number', minimum: 0 },
    maxLen: { type: 'integer', minimum: 1 },
    earlyStop: { type: 'boolean' },
    maxSteps: { type: 'integer', minimum: 1 },
  },
};

/**
 * An intervention spec with its files as references: any nesting of objects, arrays, numbers, booleans, references
 * and short words (modes, sites); a path, a URL or free text is refused (the worker reads only artefacts it fetched).
 */
const IV_VALUE = {
  v: {
    anyOf: [
      { type: 'string', pattern: `${REF}|^[A-Za-z_][A-Za-z0-9_]{0,40}$` },
      { type: 'number' }, { type: 'boolean' }, { type: 'null' },
      { type: 'array', maxItems: 1 << 20, items: { $ref: '#/$defs/v' } },
      { type: 'object', maxProperties: 64, propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,40}$' }, additionalProperties: { $ref: '#/$defs/v' } },
    ],
  },
};
const IV_SCHEMA = { type: 'object', maxProperties: 64, additionalProperties: { $ref: '#/$defs/v' } };

/** http(s), no user:password@, no query string but api-version, no fragment (a key there would reach Redis and logs). */
const JUDGE_SCHEMA = {
  anyOf: [
    { const: 'organism' },
    { type: 'object', additionalProperties: false, required: ['url', 'model'], properties: { url: { type: 'string', maxLength: 2048, pattern: '^https?://[^/@?#\\s]+(/[^?#@\\s]*)?(\\?api[-_]?version=[A-Za-z0-9._-]+)?$' }, model: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[^\\s]+$' } } },
  ],
};

const ref = { type: 'string', pattern: REF };
const seed = { type: 'integer' };
const EXTRACT_SPEC_SCHEMA = {
  oneOf: [
    { type: 'object', additionalProperties: false, required: ['kind', 'adapter', 'answers', 'label', 'seed'], properties: { kind: { const: 'em' }, adapter: ref, answers: ref, label: { type: 'string', pattern: '^[A-Za-z0-9_. -]{1,120}$' }, seed } },
    { type: 'object', additionalProperties: false, required: ['kind', 'harmful', 'harmless'], properties: { kind: { const: 'refusal' }, harmful: ref, harmless: ref } },
    { type: 'object', additionalProperties: false, required: ['kind', 'pos', 'neg', 'seed', 'samples'], properties: { kind: { const: 'persona' }, pos: ref, neg: ref, seed, samples: { type: 'integer', minimum: 1, maximum: 64 } } },
    { type: 'object', additionalProperties: false, required: ['kind', 'adapter'], properties: { kind: { const: 'lora-b' }, adapter: ref } },
  ],
};

export const PAYLOAD_SCHEMAS: Record<StepKind, object> = {
  finetune: { type: 'object', additionalProperties: false, required: ['v', 'kind', 'name', 'model', 'files', 'spec'], properties: { ...common, kind: { const: 'finetune' }, spec: SPEC_SCHEMA } },
  eval: {
    $defs: IV_VALUE,
    type: 'object', additionalProperties: false, required: ['v', 'kind', 'name', 'model', 'files', 'iv', 'settings', 'judge'],
    properties: {
      ...common, kind: { const: 'eval' }, iv: IV_SCHEMA, judge: JUDGE_SCHEMA,
      settings: {
        type: 'object', additionalProperties: false, required: ['samples', 'seed', 'questions', 'maxNewTokens'],
        properties: { samples: { type: 'integer', minimum: 1 }, seed: { type: 'integer' }, questions: { anyOf: [{ const: 'broad' }, { type: 'string', pattern: REF }] }, maxNewTokens: { type: 'integer', minimum: 1 } },
      },
    },
  },
  extract: {
    type: 'object', additionalProperties: false, required: ['v', 'kind', 'name', 'model', 'files', 'spec'],
    properties: { ...common, kind: { const: 'extract' }, spec: EXTRACT_SPEC_SCHEMA, judge: JUDGE_SCHEMA },
  },
};

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = Object.fromEntries(STEP_KINDS.map((k) => [k, ajv.compile(PAYLOAD_SCHEMAS[k])])) as Record<StepKind, ValidateFunction>;
const judgeValidator = ajv.compile(JUDGE_SCHEMA);

/** Whether a judge's settings may go into a payload (the schema's rule: no credentials, no query but api-version). */
export function isQueueableJudge(s: JudgeSettings): boolean {
  return judgeValidator(s);
}

/**
 * The payload of a job named `kind`, checked: an unknown kind, a payload off its schema, or a reference the payload
 * does not describe is an Error naming what is wrong (the job fails; nothing runs).
 */
export function checkPayload(kind: string, data: unknown): StepPayload {
  if (!(STEP_KINDS as readonly string[]).includes(kind)) throw new Error(`job kind "${String(kind).slice(0, 40)}" is not an emlens step (${STEP_KINDS.join(', ')}); refused`);
  const validate = validators[kind as StepKind];
  if (!validate(data)) {
    const errs = (validate.errors ?? []).slice(0, 4).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new Error(`job payload of kind ${kind} does not match its schema: ${errs}`);
  }
  const p = data as StepPayload;
  if (p.kind !== kind) throw new Error(`job named ${kind} carries a ${p.kind} payload; refused`);
  for (const ref of refsIn(p)) if (!p.files[ref]) throw new Error(`job payload refers to ${ref.slice(0, 21)}… without describing it in files`);
  return p;
}

/** Every `artefact:…` string a payload holds. */
export function refsIn(p: StepPayload): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string' && v.startsWith(REF_PREFIX)) out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(p.kind === 'eval' ? [p.iv, p.settings] : p.spec);
  return [...new Set(out)];
}

/** A copy of a JSON value with every string `map` rewrites (paths ↔ references). */
export function mapStrings<T>(value: T, map: (s: string) => string): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return map(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}
