// Older reports read as today's: a result whose format changed is upgraded here, in the one function every reader
// calls (server/runs.ts on reading a run, findings on its input), so committed runs open unchanged. Today: steering-
// transfer's parallel matrices [source][target] → one row per cell (long format); phase-transition's largest-cosine
// "transition" → the turn rule (phase-turn.ts), with no EM checkpoints. Pure; runs in the browser too.
import type { SteeringTransferResult, TransferRow } from '../../analyses/steering-transfer.ts';
import type { PhaseTransitionResult } from '../../analyses/phase-transition.ts';
import { detectTurn, turnRuleFields } from '../train/phase-turn.ts';

/** What a steering-transfer row's intervention can be (analyses/steering-transfer.ts says what each does). */
export const TRANSFER_INTERVENTIONS = ['none', 'ablation', 'lora_ablation', 'write_ablation', 'addition'] as const;
export type TransferIntervention = (typeof TRANSFER_INTERVENTIONS)[number];

/** The target name of the base model's rows (no fine-tune is called so: its eval would be evals/base.json). */
export const TRANSFER_BASE_TARGET = 'base';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const rate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * A steering-transfer result in today's format: one written before rows (sources, targets, baseline, base and the
 * matrices ablation / random_ablation / lora_ablation / write_ablation / addition_matrix [source][target], the vectors
 * addition / random_addition [source] and random_lora_ablation / random_write_ablation [target], null cells where a
 * source had no direction) becomes its rows, in the order the analysis measures them, with n null (the matrices kept
 * the rates only) and each ablation's reduction against the target's own EM as the analysis computes it. A result with
 * rows, or anything unrecognised, is returned as it is (readers treat a malformed one as not measured).
 */
export function upgradeTransfer(result: unknown): unknown {
  if (!isObj(result) || Array.isArray(result.rows) || !Array.isArray(result.sources) || !Array.isArray(result.targets)) return result;
  const sources = result.sources as string[], targets = result.targets as string[];
  const cellOf = (v: unknown): { em: number; coherence: number } | null => (isObj(v) && rate(v.em) && rate(v.coherence) ? { em: v.em, coherence: v.coherence } : null);
  const matrix = (key: string) => (i: number, j: number) => (Array.isArray(result[key]) && Array.isArray((result[key] as unknown[])[i]) ? cellOf(((result[key] as unknown[])[i] as unknown[])[j]) : null);
  const vector = (key: string) => (i: number) => (Array.isArray(result[key]) ? cellOf((result[key] as unknown[])[i]) : null);
  const baseline = targets.map((_, j) => vector('baseline')(j));
  const rows: TransferRow[] = [];
  const add = (source: string | null, target: string, intervention: TransferIntervention, control: boolean, c: { em: number; coherence: number } | null) => {
    if (!c) return;
    const own = baseline[targets.indexOf(target)]?.em;
    const reduction = intervention !== 'none' && intervention !== 'addition' && own !== undefined && own > 0 ? 1 - c.em / own : null;
    rows.push({ source, target, intervention, control, em: c.em, coherence: c.coherence, n: null, reduction });
  };
  targets.forEach((t, j) => add(null, t, 'none', false, baseline[j]));
  add(null, TRANSFER_BASE_TARGET, 'none', false, cellOf(result.base));
  sources.forEach((s, i) => {
    targets.forEach((t, j) => {
      add(s, t, 'ablation', false, matrix('ablation')(i, j));
      add(s, t, 'ablation', true, matrix('random_ablation')(i, j));
    });
    add(s, TRANSFER_BASE_TARGET, 'addition', false, vector('addition')(i));
    add(s, TRANSFER_BASE_TARGET, 'addition', true, vector('random_addition')(i));
  });
  sources.forEach((s, i) => targets.forEach((t, j) => {
    add(s, t, 'addition', false, matrix('addition_matrix')(i, j));
    add(s, t, 'addition', true, matrix('random_addition_matrix')(i, j));
  }));
  sources.forEach((s, i) => targets.forEach((t, j) => add(s, t, 'lora_ablation', false, matrix('lora_ablation')(i, j))));
  targets.forEach((t, j) => add(null, t, 'lora_ablation', true, vector('random_lora_ablation')(j)));
  sources.forEach((s, i) => targets.forEach((t, j) => add(s, t, 'write_ablation', false, matrix('write_ablation')(i, j))));
  targets.forEach((t, j) => add(null, t, 'write_ablation', true, vector('random_write_ablation')(j)));
  const upgraded: SteeringTransferResult = {
    sources, targets,
    layers: Array.isArray(result.layers) ? (result.layers as (number | null)[]) : sources.map(() => null),
    write_layers: Array.isArray(result.write_layers) ? (result.write_layers as number[][]) : null,
    rows,
  };
  return upgraded;
}

/**
 * A phase-transition result in today's format. One written before the turn rule (its transition_step was the step of
 * the largest k = 5 cosine, which on a straight run is the first step the metric is defined) gets the turn found by
 * today's rule from its own local cosines, and no EM checkpoints; one written before the rule asked for B's way ahead
 * (turn_rule without min_travel) keeps its turn. Neither kept B's positions, so both say min_travel null (not applied)
 * and travel_after null. Anything else is returned as it is.
 */
export function upgradePhase(result: unknown): unknown {
  if (!isObj(result) || !Array.isArray(result.steps) || !isObj(result.local_cosine) || !Array.isArray(result.local_cosine['5'])) return result;
  if (isObj(result.turn_rule)) {
    if ('min_travel' in result.turn_rule) return result;
    return { ...result, turn_rule: { ...result.turn_rule, min_travel: null }, travel_after: null };
  }
  const turn = detectTurn(result.steps as number[], result.local_cosine['5'] as (number | null)[]);
  const upgraded: Omit<PhaseTransitionResult, 'trajectory_pca'> & { trajectory_pca?: unknown } = {
    ...(result as unknown as PhaseTransitionResult),
    transition_step: turn.step, transition_rise: turn.rise, rise: turn.rises, travel_after: null,
    turn_rule: turnRuleFields(undefined, false),
    checkpoints: [], em_before: null, em_after: null,
  };
  return upgraded;
}

/** Where a run's results live: RUN/analyses/NAME.json ({ result }) and report.json's sections ({ result } each). */
interface RunParts {
  report: Json | null;
  analyses: Record<string, Json>;
}

const withResult = (holder: unknown, upgrade: (r: unknown) => unknown): unknown =>
  isObj(holder) && 'result' in holder ? { ...holder, result: upgrade(holder.result) } : holder;

/** The run with every result in today's format (a copy; the input is not changed). */
export function upgradeRun<T extends RunParts>(run: T): T {
  const analyses = { ...run.analyses };
  if (analyses['steering-transfer']) analyses['steering-transfer'] = withResult(analyses['steering-transfer'], upgradeTransfer) as Json;
  if (analyses['phase-transition']) analyses['phase-transition'] = withResult(analyses['phase-transition'], upgradePhase) as Json;
  let report = run.report;
  const sections = report?.sections;
  if (report && isObj(sections)) {
    const upgraded = { ...sections };
    if ('transfer' in sections) upgraded.transfer = withResult(sections.transfer, upgradeTransfer);
    if ('phase_transition' in sections) upgraded.phase_transition = withResult(sections.phase_transition, upgradePhase);
    report = { ...report, sections: upgraded };
  }
  return { ...run, analyses, report };
}
