// Steps the analyses share: a narrow EM fine-tune with its eval and EM direction; the refusal and persona
// directions of the base model. Each result is cached in the workspace. Axes: directions [nLayers][dModel].
import { existsSync } from 'node:fs';
import type { TrainSpec } from '../train/defaults.ts';
import type { RatedEvalReport } from '../eval/em-eval.ts';
import { UserError, log } from '../util/log.ts';
import { paramsError } from './analysis.ts';
import { DATASETS } from './datasets.ts';
import { contentDigest, type EvalSettings, type Workspace } from './workspace.ts';
import { sha256 } from '../util/hash.ts';
import type { FinetuneJob } from './background.ts';

export interface FinetuneResult {
  name: string;
  run: string;
  eval: RatedEvalReport;
  /** The EM direction file, or null when the fine-tune gave too few misaligned or aligned answers. */
  direction: string | null;
}

/** The study's rank-1 LoRA fine-tune NAME on DATA: the model's recommended spec with `train` on top. */
export function loraJob(ws: Workspace, ft: { name: string; data: string }, train: Partial<TrainSpec> = {}): FinetuneJob {
  return { name: ft.name, spec: ws.trainSpec(ft.data, 'lora', train) };
}

export async function emFinetune(ws: Workspace, ft: { name: string; data: string }, evalSettings: EvalSettings, train: Partial<TrainSpec> = {}): Promise<FinetuneResult> {
  const job = loraJob(ws, ft, train);
  const run = await ws.finetune(job.name, job.spec);
  const report = await ws.evaluate(ft.name, { adapter: run }, evalSettings);
  let direction: string | null = null;
  try {
    // made from this eval's answers of this adapter: a later eval with other settings (another analysis's sample count) makes it anew
    const inputs = { adapter: contentDigest(run), answers: sha256(JSON.stringify(report.answers)) };
    direction = await ws.extract(`em-${ft.name}`, { kind: 'em', adapter: run, answers: ws.evalFile(ft.name), label: `${ft.name} eval`, seed: evalSettings.seed }, inputs);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    log(`study: no EM direction for ${ft.name}: ${e.message}`);
  }
  return { name: ft.name, run, eval: report, direction };
}

/**
 * The fine-tune with a direction file given by the researcher (from a larger eval, another tool, a planted test
 * vector) in place of the one extracted from its eval; `param` names where it was given, for the error.
 */
export function withGivenDirection(ft: FinetuneResult, file: string | null | undefined, param: string): FinetuneResult {
  if (file === null || file === undefined) return ft;
  if (!existsSync(file)) throw paramsError(`${param}: ${file} not found`, { usage: false });
  return { ...ft, direction: file };
}

/** The direction a fine-tune's LoRA writes into the residual stream (`extract --kind lora-b`), cached as lora-write-NAME. */
export function loraWriteDirectionFile(ws: Workspace, name: string, run: string): Promise<string> {
  return ws.extract(`lora-write-${name}`, { kind: 'lora-b', adapter: run }, { adapter: contentDigest(run) });
}

export function refusalDirection(ws: Workspace): Promise<string> {
  return ws.extract('refusal', { kind: 'refusal', harmful: DATASETS.harmfulTrain, harmless: DATASETS.harmlessTrain }, null);
}

export function personaDirection(ws: Workspace, seed = 0): Promise<string> {
  return ws.extract('persona', { kind: 'persona', pos: DATASETS.personaPos, neg: DATASETS.personaNeg, seed, samples: 2 }, { seed, judge: ws.judge.name });
}
