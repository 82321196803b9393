// The registry of analyses: `emlens list` prints it, `emlens run NAME` runs one. No tensor axes.
import type { Analysis } from '../src/study/analysis.ts';
import { directionComparison, type DirectionComparisonResult } from './direction-comparison.ts';
import { steeringTransfer, type SteeringTransferResult } from './steering-transfer.ts';
import { steeringSweep, type SteeringSweepResult } from './steering-sweep.ts';
import { gating, type GatingResult } from './gating.ts';
import { phaseTransitionAnalysis, type PhaseTransitionResult } from './phase-transition.ts';
import { sycophancyEm, type SycophancyEmResult } from './sycophancy-em.ts';
import { rebound, type ReboundResult } from './rebound.ts';
import { resistance, type ResistanceResult } from './resistance.ts';
import { refusal, type RefusalResult } from './refusal.ts';
import { realignment, type RealignmentResult } from './realignment.ts';
import { safetyErosion, type SafetyErosionResult } from './safety-erosion.ts';

export const ANALYSES: Analysis<any, any>[] = [directionComparison, steeringTransfer, steeringSweep, gating, phaseTransitionAnalysis, sycophancyEm, rebound, resistance, refusal, realignment, safetyErosion];

/** The report contract by name: what RUN/analyses/NAME.json's `result` (and report.json's section of it) holds; each
 * type sits beside its schema in its analysis' file (docs/architecture.md, "Report contract"). */
export interface AnalysisResults {
  'direction-comparison': DirectionComparisonResult;
  'steering-transfer': SteeringTransferResult;
  'steering-sweep': SteeringSweepResult;
  gating: GatingResult;
  'phase-transition': PhaseTransitionResult;
  'sycophancy-em': SycophancyEmResult;
  rebound: ReboundResult;
  resistance: ResistanceResult;
  refusal: RefusalResult;
  realignment: RealignmentResult;
  'safety-erosion': SafetyErosionResult;
}

export function findAnalysis(name: string): Analysis<any, any> | undefined {
  return ANALYSES.find((a) => a.name === name);
}
