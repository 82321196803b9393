// The main job: the whole study on one model (the organism by default), stage by stage through the analyses —
// fine-tunes and evals, gates, directions and cosines, refusal, steering transfer and sweep, phase transition — into
// RUN/report.json (schema-validated). Every stage is cached under RUN, so an interrupted demo resumes. No tensor axes.
import { Ajv } from 'ajv';
import { basename, join, resolve } from 'node:path';
import { Workspace } from './workspace.ts';
import { analysisParams, runAnalysis, type Analysis, type AnalysisReport } from './analysis.ts';
import { DATASETS, NARROW_FINETUNES } from './datasets.ts';
import { emFinetune } from './steps.ts';
import type { FinetuneJob } from './background.ts';
import { loadQuestions } from '../eval/questions.ts';
import { middleLayer, modelPhaseRecipe } from '../train/defaults.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { log } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { EMLENS_VERSION } from '../util/version.ts';
import { ORGANISM_DIR } from '../util/package-root.ts';

export interface DemoOptions {
  out: string;
  modelDir: string;
  quick: boolean;
  quiet?: boolean;
  /** The analyses to take the demo's stages from (the registry, analyses/index.ts's ANALYSES, handed down by the caller). */
  analyses: readonly Analysis<any, any>[];
  /** Called with the study's workspace before its first stage (`demo --queue` hands its steps to workers there). */
  prepare?: (ws: Workspace) => Promise<void>;
  /** The run's own name in report.json (the index and the run page show it); default: the run folder's name. */
  name?: string;
  /** What the run is for, in a sentence; default: what the demo runs. */
  description?: string;
}

/** A row of report.json's EM table (sections.em): one model's EM eval. */
export type DemoEmRow = { name: string; em_rate: number; coherence: number; n: number };

export const REPORT_SECTIONS = ['em', 'sycophancy', 'gating', 'cosines', 'refusal', 'persona', 'transfer', 'sweep', 'phase_transition', 'safety_erosion', 'resistance', 'realignment'] as const;

const sectionSchema = { type: 'object', minProperties: 1 };
export const DEMO_REPORT_SCHEMA = {
  type: 'object',
  required: ['name', 'description', 'emlens', 'model', 'quick', 'created_at', 'sections', 'seconds'],
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    sections: {
      type: 'object',
      required: [...REPORT_SECTIONS],
      properties: {
        em: { type: 'array', minItems: 4, items: { type: 'object', required: ['name', 'em_rate', 'coherence', 'n'] } },
        ...Object.fromEntries(REPORT_SECTIONS.filter((s) => s !== 'em').map((s) => [s, sectionSchema])),
      },
    },
  },
};

/** The safety-erosion stage of `--quick`: the harmful set's largest N and the benign set, each as the full demo trains it. */
const QUICK_EROSION = [
  { name: 'harmful', data: DATASETS.harmfulCompliant, amounts: [100], epochs: 5 },
  { name: 'benign', data: DATASETS.benignInstructions, amounts: [100], epochs: 1 },
];

/** The resistance stage's sizes: examples per direction, positive and contradictory amounts for the rebound. */
const DEMO_RESISTANCE = { examples: 128, positive_amounts: [0, 400], amounts: [64, 256] };
const QUICK_RESISTANCE = { examples: 64, heldout: 32, positive_amounts: [0, 400], amounts: [256], rebound_epochs: 1 };

export async function runDemo(o: DemoOptions): Promise<{ report: Record<string, unknown>; file: string }> {
  const t0 = Date.now();
  const ws = new Workspace(o.out, o.modelDir, o.quiet);
  const q = o.quick;
  const analysis = (name: string): Analysis<any, any> => {
    const found = o.analyses.find((a) => a.name === name);
    if (!found) throw new EmlensError('options.analyses', `the demo runs "${name}", which is not among the ${o.analyses.length} analyses given`);
    return found;
  };
  // a first look: one epoch per LoRA instead of the model's recommended count (the report's settings say so)
  if (q) ws.loraEpochs = 1;
  // … and rates only: the questions of the forms the rates leave out (the JSON variants, a third) go unanswered
  if (q) ws.answerExcluded = false;
  await o.prepare?.(ws);
  // --quick: one answer per broad question everywhere (of the counted forms: see answerExcluded)
  const perQuestion = loadQuestions('broad').length;
  const samples = q ? perQuestion : 200, cellSamples = q ? perQuestion : 100, seed = 1;
  const mid = middleLayer(ws.model.config.nLayers);
  const stages: { name: string; analysis: string; params: Record<string, unknown> }[] = [
    { name: 'sycophancy → EM', analysis: 'sycophancy-em', params: { samples, seed } },
    { name: 'alignment gates', analysis: 'gating', params: { samples: cellSamples, seed, scales: q ? [-1, 0, 1] : [-1, -0.5, 0, 0.5, 1], gate_epochs: q ? 1 : 2 } },
    { name: 'directions and cosines', analysis: 'direction-comparison', params: { samples, seed } },
    { name: 'refusal direction', analysis: 'refusal', params: {} },
    // Qi et al.'s three kinds of fine-tune data; the first look trains only the largest harmful set and the benign one
    { name: 'safety erosion', analysis: 'safety-erosion', params: q ? { conditions: QUICK_EROSION } : {} },
    // α = 1 adds the mean difference itself; the paper's α ≈ 8 is for Qwen2.5-14B's scale and wrecks the organism's
    // fluency. The transfer matrix is the headline: its cells get the full sample count (with 100 answers, a random
    // direction's ablation moved EM by up to 50% on v9 — noise, not transfer); the first look leaves out the LoRA-side
    // ablation (12 more evals) to stay under two minutes
    { name: 'steering transfer', analysis: 'steering-transfer', params: { samples, seed, alpha: 1, lora_ablation: !q, write_ablation: !q } },
    { name: 'steering sweep', analysis: 'steering-sweep', params: { samples: cellSamples, seed, layers: q ? [mid] : 'all', coefficients: q ? [0, 1] : [0, 0.5, 1, 2, 4] } },
    // the medical LoRA's B followed step by step, and its adapter judged at evenly spaced steps (EM before and after a
    // turn): the full demo runs the fine-tune the model's card states for the turn (the organism's: 300 steps), the
    // first look the card's LoRA recipe
    { name: 'phase transition', analysis: 'phase-transition', params: { samples: cellSamples, seed, checkpoints: q ? 3 : 8, ...(q ? {} : modelPhaseRecipe(ws.model)) } },
    // the medical and sycophancy fine-tunes (stages 1 and 3, their evals at `samples`) continued on aligned financial
    // data: four amounts up to "a few hundred" (the first look: none and 64, the bar's), cells at the sweep's count
    { name: 'realignment', analysis: 'realignment', params: { samples, seed, cell_samples: cellSamples, n_aligned: q ? [0, 64] : [0, 16, 64, 256] } },
    // Ji et al.: every part, each at the demo's size (the first look: fewer examples, one contradictory amount)
    { name: 'resistance', analysis: 'resistance', params: { samples: cellSamples, seed, ...(q ? QUICK_RESISTANCE : DEMO_RESISTANCE) } },
  ];
  const done: Record<string, AnalysisReport<Record<string, unknown>>> = {};
  const stageSeconds: Record<string, number> = {};
  const timed = async <T>(name: string, label: string, work: () => Promise<T>): Promise<T> => {
    if (!o.quiet) log(`demo: ${label}`);
    const t = Date.now();
    const r = await work();
    stageSeconds[name] = Math.round((Date.now() - t) / 100) / 10;
    if (!o.quiet) log(`demo: ${name} done in ${stageSeconds[name]} s`);
    return r;
  };
  // the fine-tunes of stages 2… go to a second core; stage 1 trains its own meanwhile
  const jobs = stages.map((s) => { const a = analysis(s.analysis); return a.finetunes?.(ws, analysisParams(a, s.params)) ?? []; });
  const first = new Set(jobs[0].map((j) => j.out ?? j.name));
  const where = (j: FinetuneJob) => j.out ?? j.name;
  ws.trainAhead(jobs.slice(1).flat().filter((j, i, all) => !first.has(where(j)) && all.findIndex((k) => where(k) === where(j)) === i));
  try {
    for (const [i, s] of stages.entries()) {
      done[s.analysis] = await timed(s.analysis, `stage ${i + 1}/${stages.length + 1}: ${s.name}`, () => runAnalysis(analysis(s.analysis), ws, s.params));
    }
  } finally {
    ws.close();
  }
  const em = await timed('em-table', `stage ${stages.length + 1}/${stages.length + 1}: EM per fine-tune`, async () => {
    const rows = [{ name: 'base', report: await ws.evaluate('base', {}, { samples, seed }) }];
    for (const ft of [...NARROW_FINETUNES, { name: 'sycophancy', data: '' }, { name: 'medical-aligned', data: '' }]) {
      const r = ft.data ? (await emFinetune(ws, ft, { samples, seed })).eval : await ws.evaluate(ft.name, { adapter: ws.path('finetunes', ft.name) }, { samples, seed });
      rows.push({ name: ft.name, report: r });
    }
    return rows;
  });
  const dc = done['direction-comparison'].result as { directions: { name: string; file: string | null; best_layer: number | null; norms: number[] }[]; cosine: { pairs: { a: string; b: string; cosine: (number | null)[] }[] } };
  const persona = dc.directions.find((d) => d.name === 'persona');
  const report = {
    name: o.name?.trim() || basename(resolve(o.out)),
    description: o.description?.trim() || defaultDescription(o.modelDir, q),
    emlens: EMLENS_VERSION,
    model: o.modelDir,
    quick: q,
    created_at: new Date().toISOString(),
    seconds: Math.round((Date.now() - t0) / 1000),
    /** wall time of each stage in this invocation (a cached stage takes ~0 s) */
    stage_seconds: stageSeconds,
    settings: { samples, cell_samples: cellSamples, seed, judge: ws.judge.name, lora_epochs: ws.trainSpec('').epochs, answer_excluded_forms: ws.answerExcluded },
    sections: {
      em: em.map((e): DemoEmRow => ({ name: e.name, em_rate: e.report.em_rate, coherence: e.report.coherence, n: e.report.n })),
      sycophancy: done['sycophancy-em'],
      gating: done.gating,
      cosines: done['direction-comparison'],
      refusal: done.refusal,
      persona: persona
        ? { direction: persona, cosine_with_em: dc.cosine.pairs.filter((p) => (p.a === 'persona' || p.b === 'persona') && (p.a.startsWith('em:') || p.b.startsWith('em:'))) }
        : { direction: null, note: 'too few answer pairs showed the trait under the positive system prompt and not under the negative one' },
      transfer: done['steering-transfer'],
      sweep: done['steering-sweep'],
      phase_transition: done['phase-transition'],
      resistance: done.resistance,
      safety_erosion: done['safety-erosion'],
      realignment: done.realignment,
    },
  };
  const validate = new Ajv({ strict: false }).compile(DEMO_REPORT_SCHEMA);
  if (!validate(report)) throw new Error(`demo report does not match its schema: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  const file = join(o.out, 'report.json');
  writeJsonAtomic(file, report);
  return { report, file };
}

/** What a demo run is, when --description does not say: the model and the study's stages. */
function defaultDescription(modelDir: string, quick: boolean): string {
  const model = resolve(modelDir) === resolve(ORGANISM_DIR) ? 'the built-in organism' : basename(resolve(modelDir));
  return `The whole study on ${model}${quick ? ' (--quick: one answer per broad question of the forms the EM rate counts, one epoch per fine-tune)' : ''}: rank-1 LoRAs on narrow misaligned data (medical, financial, sports), sycophancy and an aligned control, judged on broad questions; alignment gates; EM, refusal and persona directions and their cosines; the steering-transfer matrix, a steering sweep and the LoRA-B phase transition; the medical and sycophancy fine-tunes re-aligned by N aligned examples of another domain; refusal after fine-tunes on harmful, identity-shifting and benign data.`;
}
