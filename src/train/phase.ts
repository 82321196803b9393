// The phase-transition view of a LoRA fine-tune (research.md §1): local cosine cos(B[t−k] − B[t], B[t+k] − B[t])
// of the LoRA-B trajectory for k ∈ {5, 10, 15} steps, and the PCA of that trajectory. Axes: each snapshot is the
// flattened B of every module; trajectory [step][that size].
import { PCA } from 'ml-pca';
import { symmetricEigen } from '../util/linalg.ts';
import { detectTurn, TURN_RULE, type TurnRule } from './phase-turn.ts';
export interface BSnapshot {
  step: number;
  /** "layer.module" → flattened B ([r, out] row-major). */
  vectors: Record<string, number[]>;
}

export interface PhaseTransition {
  steps: number[];
  /** k → local cosine at each step (null where undefined or the step's change is below minChange). */
  localCosine: Record<string, (number | null)[]>;
  /** Norm of B at each step. */
  bNorm: number[];
  /** [step]: the share of B's way still ahead, ‖B[last] − B[t]‖ / max_s ‖B[s] − B[first]‖ (0 when B never moves). */
  travelAfter: number[];
  /** The turn (phase-turn.ts): where the smallest k's local cosine rises ≥ rule.minRise above its running level, away
   * from the run's first and last rule.margin, with at least rule.minTravel of B's way ahead; null when B moves
   * without turning. */
  transitionStep: number | null;
  /** That rise, and the rise at each step (the cosine minus its running level). */
  transitionRise: number | null;
  rise: (number | null)[];
  rule: TurnRule;
  ks: number[];
  minChange: number;
}

function flat(s: BSnapshot): number[] {
  return Object.keys(s.vectors).sort().flatMap((k) => s.vectors[k]);
}

const sub = (a: number[], b: number[]) => a.map((x, i) => x - b[i]);
const norm = (a: number[]) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
const cosine = (a: number[], b: number[]) => {
  const na = norm(a), nb = norm(b);
  return na && nb ? a.reduce((s, x, i) => s + x * b[i], 0) / (na * nb) : null;
};

export function phaseTransition(snapshots: BSnapshot[], ks = [5, 10, 15], minChange = 0.002, rule: TurnRule = TURN_RULE): PhaseTransition {
  const sorted = [...snapshots].sort((a, b) => a.step - b.step);
  const byStep = new Map(sorted.map((s) => [s.step, flat(s)]));
  const steps = sorted.map((s) => s.step);
  const localCosine: Record<string, (number | null)[]> = {};
  for (const k of ks) {
    localCosine[k] = steps.map((t, i) => {
      const prev = byStep.get(t - k), next = byStep.get(t + k), cur = byStep.get(t)!;
      if (!prev || !next) return null;
      const after = i + 1 < steps.length ? byStep.get(steps[i + 1])! : undefined;
      if (!after || norm(sub(after, cur)) < minChange) return null;
      return cosine(sub(prev, cur), sub(next, cur));
    });
  }
  const path = steps.map((t) => byStep.get(t)!); // [step][size of B]
  const travelAfter = wayAhead(path);
  const turn = detectTurn(steps, localCosine[String(Math.min(...ks))], rule, travelAfter);
  return { steps, localCosine, bNorm: path.map(norm), travelAfter, transitionStep: turn.step, transitionRise: turn.rise, rise: turn.rises, rule, ks, minChange };
}

/** [step]: ‖B[last] − B[t]‖ over the largest distance B reaches from its first position (all 0 for a B that stays put). */
function wayAhead(path: number[][]): number[] {
  if (!path.length) return [];
  const first = path[0], last = path[path.length - 1];
  const reach = Math.max(...path.map((b) => norm(sub(b, first))));
  return path.map((b) => (reach > 0 ? norm(sub(last, b)) / reach : 0));
}

export interface TrajectoryPca {
  /** Share of the trajectory's variance along each principal component. */
  explained: number[];
  /** [step][component]: each snapshot's coordinates on the components (centred). */
  coords: number[][];
  /** The steps the PCA was computed on (all, or at most `maxSteps` evenly spaced ones). */
  steps: number[];
}

/**
 * PCA of the B trajectory (centred over steps): ml-pca on the snapshots where B is narrow; where it is wide (≥ 1024),
 * the eigendecomposition of the steps' Gram matrix, with at most `maxSteps` evenly spaced snapshots.
 */
export function trajectoryPca(snapshots: BSnapshot[], components = 2, maxSteps = 512): TrajectoryPca {
  let sorted = [...snapshots].sort((a, b) => a.step - b.step);
  if (sorted.length > maxSteps) sorted = Array.from({ length: maxSteps }, (_, i) => sorted[Math.round((i * (sorted.length - 1)) / (maxSteps - 1))]);
  const X = sorted.map(flat);
  const n = X.length, d = X[0]?.length ?? 0;
  const k = Math.min(components, n - 1, d);
  if (k < 1) return { explained: [], coords: X.map(() => []), steps: sorted.map((s) => s.step) };
  const mean = X[0].map((_, j) => X.reduce((s, x) => s + x[j], 0) / n);
  const C = X.map((x) => x.map((v, j) => v - mean[j]));
  let explained: number[], coords: number[][];
  if (d < 1024) {
    const pca = new PCA(C, { center: false, scale: false });
    const variances = pca.getEigenvalues();
    const total = variances.reduce((s, v) => s + v, 0);
    explained = variances.slice(0, k).map((v) => (total > 0 ? v / total : 0));
    const P = pca.predict(C, { nComponents: k });
    coords = P.to2DArray();
  } else {
    // Gram G = C Cᵀ = U Λ Uᵀ: the coordinates on component i are √λᵢ·uᵢ, its share λᵢ / Σλ
    const G = C.map((a) => C.map((b) => a.reduce((s, x, j) => s + x * b[j], 0)));
    const { values, vectors } = symmetricEigen(G);
    const total = values.reduce((s, v) => s + Math.max(0, v), 0);
    explained = values.slice(0, k).map((v) => (total > 0 ? Math.max(0, v) / total : 0));
    coords = C.map((_, t) => Array.from({ length: k }, (__, i) => Math.sqrt(Math.max(0, values[i])) * vectors[i][t]));
  }
  return { explained, coords, steps: sorted.map((s) => s.step) };
}
