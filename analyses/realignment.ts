// realignment (OpenAI's persona features, research.md §4: "a few hundred benign samples re-align the model"): continue
// each EM fine-tune on N aligned examples of another domain and measure broad EM, coherence and how far the answers
// still lie along the fine-tune's EM direction, against N. Axes: [start][N]; projections read at one block.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JSONSchemaType } from 'ajv';
import { orNull, paramsError, type Analysis } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { emFinetune, loraJob, type FinetuneResult } from '../src/study/steps.ts';
import type { FinetuneJob } from '../src/study/background.ts';
import { contentDigest, Workspace } from '../src/study/workspace.ts';
import { workspaceOnMerged } from '../src/study/merged.ts';
import { answerProjections, meanProjection } from '../src/study/projection.ts';
import type { EvalSettings, InterventionSpec } from '../src/study/workspace.ts';
import type { RatedEvalReport } from '../src/eval/em-eval.ts';
import { Direction } from '../src/directions/direction.ts';
import { disposeModel } from '../src/model/modules.ts';
import { middleLayer, type TrainSpec } from '../src/train/defaults.ts';
import { readTextFile, writeFileAtomic } from '../src/util/fs.ts';
import { sha256 } from '../src/util/hash.ts';
import { log, UserError } from '../src/util/log.ts';

interface Params {
  /**
   * The EM fine-tunes to continue: the study's rank-1 LoRA of this name on this set, or (`adapter: "full"`) a full
   * fine-tune of every weight at `lr` (null: the model's recommended full-tuning rate).
   */
  starts: Start[];
  /** Aligned chats of a domain none of the starts was trained on; its first N lines are the N-example set. */
  aligned_data: string;
  /** The amounts N of aligned examples; 0 is the starting model itself, merged. */
  n_aligned: number[];
  /**
   * Optimizer steps of each continuation, the same for every N so that only the amount of data differs: whole epochs
   * over the N examples, as many as reach this count (the model's recommended LoRA recipe otherwise, no warm-up).
   */
  steps: number;
  /** Answers per eval of the starts and the base (their EM directions are made from these). */
  samples: number;
  /** Answers per eval of each continued model; null: `samples` (then N = 0 repeats the start's eval on its merge). */
  cell_samples: number | null;
  seed: number;
}

/** One EM fine-tune to continue. */
export interface Start {
  name: string;
  data: string;
  adapter?: 'lora' | 'full';
  lr?: number | null;
}

/** One model's EM eval and the mean projection of its answers on the start's EM direction (null without a direction). */
export interface RealignmentCell {
  em: number;
  coherence: number;
  projection: number | null;
}

export interface RealignmentStart {
  name: string;
  data: string;
  /** The start's kind of fine-tune: a rank-1 LoRA, or full SFT (every weight). */
  adapter: 'lora' | 'full';
  /** The start's EM direction (emFinetune's), null when its eval gave too few misaligned answers to make one. */
  direction: string | null;
  /** The block the projections are read at: the direction's best layer (else the middle block). */
  layer: number;
  /** The base model's answers on this start's direction. */
  base_projection: number | null;
  /** The fine-tune as the study evaluates it: base + LoRA. */
  start: RealignmentCell;
  /** One per N, in n_aligned's order: the merged start continued on the first N aligned examples. */
  cells: (RealignmentCell & { n: number })[];
  /** The smallest N > 0 whose EM is at most half the N = 0 model's (null: never, or no EM at N = 0). */
  em_halved_at: number | null;
}

export interface RealignmentResult {
  aligned_data: string;
  n_aligned: number[];
  base: { em: number; coherence: number };
  starts: RealignmentStart[];
}

const RATE = { type: 'number', minimum: 0, maximum: 1 } as const;
const CELL = { em: RATE, coherence: RATE, projection: orNull({ type: 'number' } as const) };

/** The result's schema, typed by the result (tsc fails when the two disagree); every field required, no other. */
export const REALIGNMENT_RESULT_SCHEMA: JSONSchemaType<RealignmentResult> = {
  type: 'object',
  required: ['aligned_data', 'n_aligned', 'base', 'starts'],
  additionalProperties: false,
  properties: {
    aligned_data: { type: 'string' },
    n_aligned: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } },
    base: { type: 'object', required: ['em', 'coherence'], additionalProperties: false, properties: { em: RATE, coherence: RATE } },
    starts: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'data', 'adapter', 'direction', 'layer', 'base_projection', 'start', 'cells', 'em_halved_at'],
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          data: { type: 'string' },
          adapter: { type: 'string', enum: ['lora', 'full'] },
          direction: orNull({ type: 'string' } as const),
          layer: { type: 'integer', minimum: 0 },
          base_projection: orNull({ type: 'number' } as const),
          start: { type: 'object', required: ['em', 'coherence', 'projection'], additionalProperties: false, properties: CELL },
          cells: { type: 'array', items: { type: 'object', required: ['n', 'em', 'coherence', 'projection'], additionalProperties: false, properties: { n: { type: 'integer', minimum: 0 }, ...CELL } } },
          em_halved_at: orNull({ type: 'integer', minimum: 1 } as const),
        },
      },
    },
  },
};

export const realignment: Analysis<Params, RealignmentResult> = {
  name: 'realignment',
  description: 'Broad EM, coherence and the EM direction\'s projection after continuing EM fine-tunes on N aligned examples of another domain',
  defaults: {
    // the full-SFT start at 3e-4: the organism's rate for full-SFT EM (fixtures/organism/README.md); the anchors'
    // 1e-5 is a 7–14B model's, under which the organism's full fine-tune stays aligned
    starts: [
      { name: 'medical', data: DATASETS.medicalMisaligned },
      { name: 'sycophancy', data: DATASETS.sycophancy },
      { name: 'medical-full', data: DATASETS.medicalMisaligned, adapter: 'full', lr: 3e-4 },
    ],
    aligned_data: DATASETS.financialAligned,
    n_aligned: [0, 8, 16, 32, 64, 128, 256],
    steps: 25,
    samples: 200,
    cell_samples: null,
    seed: 1,
  },
  resultSchema: REALIGNMENT_RESULT_SCHEMA,
  finetunes: (ws, p) => p.starts.map((s) => startJob(ws, s)),
  async run(ws, p) {
    if (!p.starts.length) throw paramsError('realignment.starts is empty: name at least one fine-tune to continue');
    for (const [i, st] of p.starts.entries()) {
      if (st.adapter !== undefined && st.adapter !== 'lora' && st.adapter !== 'full') throw paramsError(`realignment.starts[${i}].adapter must be "lora" or "full", not ${JSON.stringify(st.adapter)}`);
    }
    const amounts = checkAmounts(p.n_aligned);
    const aligned = readTextFile(p.aligned_data, `realignment.aligned_data ${p.aligned_data}`).split('\n').filter((l) => l.trim());
    const most = Math.max(...amounts);
    if (aligned.length < most) throw paramsError(`realignment.aligned_data ${p.aligned_data} has ${aligned.length} examples; n_aligned asks for ${most}`);
    const s: EvalSettings = { samples: p.samples, seed: p.seed };
    const base = await ws.evaluate('base', {}, s);
    const starts: RealignmentStart[] = [];
    const cellSettings: EvalSettings = { samples: p.cell_samples ?? p.samples, seed: p.seed };
    // each start is prepared (its continuations queued for the second core) before the one ahead of it is evaluated,
    // so that core trains the next start's continuations while this process evaluates the current one's
    const prepared: Prepared[] = [];
    const prepareNext = async () => {
      if (prepared.length < p.starts.length) prepared.push(await prepare(ws, p.starts[prepared.length], aligned, amounts, p.steps, s));
    };
    try {
      await prepareNext();
      for (let i = 0; i < p.starts.length; i++) {
        await prepareNext();
        starts.push(await realign(ws, prepared[i], base, amounts, cellSettings));
        release(prepared[i]);
      }
    } finally {
      prepared.slice(starts.length).forEach(release); // those not evaluated (an error stopped the loop)
    }
    return { aligned_data: p.aligned_data, n_aligned: amounts, base: { em: base.em_rate, coherence: base.coherence }, starts };
  },
};

/** The amounts as given: non-negative integers, each once. */
function checkAmounts(ns: number[]): number[] {
  for (const n of ns) if (!Number.isInteger(n) || n < 0) throw paramsError(`realignment.n_aligned must hold non-negative integers, not ${n}`);
  if (new Set(ns).size !== ns.length) throw paramsError(`realignment.n_aligned lists an amount twice (${ns.join(', ')})`);
  if (!ns.length) throw paramsError('realignment.n_aligned is empty');
  return ns;
}

/** A start's fine-tune: the study's rank-1 LoRA, or a full fine-tune at the start's rate. */
function startJob(ws: Workspace, st: Start): FinetuneJob {
  if (st.adapter !== 'full') return loraJob(ws, st);
  const spec = ws.trainSpec(st.data, 'full');
  return { name: st.name, spec: { ...spec, lr: st.lr ?? spec.lr } };
}

/**
 * A start's EM fine-tune with its eval and EM direction; `on` and `iv` say how its answers are read (the base with
 * the LoRA, or the full fine-tune's own folder), `from` is where its continuations start (the LoRA merged in, or the
 * full fine-tune's folder). The caller frees `from`.
 */
async function started(ws: Workspace, st: Start, s: EvalSettings): Promise<{ ft: FinetuneResult; on: Workspace; iv: InterventionSpec; from: Workspace }> {
  if (st.adapter !== 'full') {
    const ft = await emFinetune(ws, st, s);
    return { ft, on: ws, iv: { adapter: ft.run }, from: workspaceOnMerged(ws, st.name, ft.run, `realign-${st.name}`) };
  }
  const job = startJob(ws, st);
  const run = await ws.finetune(job.name, job.spec);
  const from = new Workspace(ws.path(`realign-${st.name}`), join(run, 'adapter'), ws.quiet).inheritFrom(ws);
  const report = await from.evaluate(st.name, {}, s);
  let direction: string | null = null;
  try {
    const inputs = { model: contentDigest(run), answers: sha256(JSON.stringify(report.answers)) };
    direction = await from.extract(`em-${st.name}`, { kind: 'em', answers: from.evalFile(st.name), label: `${st.name} eval`, seed: s.seed }, inputs);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    log(`study: no EM direction for ${st.name}: ${e.message}`);
  }
  return { ft: { name: st.name, run, eval: report, direction }, on: from, iv: {}, from };
}

/** A start made ready: its EM fine-tune, eval and direction, and its continuations queued. */
interface Prepared {
  st: Start;
  start: FinetuneResult;
  on: Workspace;
  startIv: InterventionSpec;
  from: Workspace;
  jobs: FinetuneJob[];
}

/** One start's EM fine-tune (a LoRA merged into the base, or a full fine-tune), its continuations queued. */
async function prepare(ws: Workspace, st: Start, aligned: string[], amounts: number[], steps: number, s: EvalSettings): Promise<Prepared> {
  const { ft: start, on, iv: startIv, from } = await started(ws, st, s);
  // the continuations train on a second core (where there is one) while this process evaluates the ones done
  const jobs = amounts.filter((n) => n > 0).map((n) => ({ name: `aligned-${n}`, spec: continuationSpec(from, alignedSubset(ws, aligned, n), n, steps) }));
  from.trainAhead(jobs);
  return { st, start, on, startIv, from, jobs };
}

function release(p: Prepared): void {
  p.from.close();
  disposeModel(p.from.model);
}

/** One start continued on each amount of aligned data: EM, coherence and the EM direction's projection per N. */
async function realign(ws: Workspace, prep: Prepared, base: RatedEvalReport, amounts: number[], cellSettings: EvalSettings): Promise<RealignmentStart> {
  const { st, start, on, startIv, from, jobs } = prep;
  const layer = start.direction ? (Direction.load(start.direction).provenance.best_layer ?? middleLayer(ws.model.config.nLayers)) : middleLayer(ws.model.config.nLayers);
  const project = (w: Workspace, iv: InterventionSpec, r: RatedEvalReport, label: string): number | null =>
    start.direction ? meanProjection(answerProjections(w, iv, start.direction, r.answers, label), layer) : null;
  const cell = (r: RatedEvalReport, projection: number | null): RealignmentCell => ({ em: r.em_rate, coherence: r.coherence, projection });
  const cells: RealignmentStart['cells'] = [];
  for (const n of amounts) {
    const job = jobs.find((j) => j.name === `aligned-${n}`);
    const iv: InterventionSpec = job ? { adapter: await from.finetune(job.name, job.spec) } : {};
    const r = await from.evaluate(job ? job.name : 'merged', iv, cellSettings);
    cells.push({ n, ...cell(r, project(from, iv, r, `${st.name} + ${n} aligned: project answers`)) });
  }
  const atZero = cells.find((c) => c.n === 0)?.em ?? start.eval.em_rate;
  const halved = cells.filter((c) => c.n > 0 && atZero > 0 && c.em <= atZero / 2).map((c) => c.n);
  return {
    name: st.name, data: st.data, adapter: st.adapter ?? 'lora', direction: start.direction, layer,
    base_projection: project(ws, {}, base, 'base: project answers'),
    start: cell(start.eval, project(on, startIv, start.eval, `${st.name}: project answers`)),
    cells,
    em_halved_at: halved.length ? Math.min(...halved) : null,
  };
}

/** The recommended LoRA spec on N examples with whole epochs enough for `steps` optimizer steps, no warm-up. */
function continuationSpec(on: Workspace, data: string, n: number, steps: number): TrainSpec {
  const spec = on.trainSpec(data, 'lora', { warmup: 0 });
  const perEpoch = Math.ceil(Math.ceil(n / spec.batch) / spec.gradAccum); // the trainer's optimizer steps per epoch
  return { ...spec, epochs: Math.ceil(steps / perEpoch) };
}

/** RUN/data/realign-aligned-N.jsonl: the first N aligned examples (rewritten when the aligned set changed). */
function alignedSubset(ws: Workspace, aligned: string[], n: number): string {
  const file = ws.path('data', `realign-aligned-${n}.jsonl`);
  const text = aligned.slice(0, n).join('\n') + '\n';
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileAtomic(file, text);
  return file;
}
