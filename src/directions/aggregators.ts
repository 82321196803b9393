// Aggregators turn two groups of pooled activations into one vector per layer: mean difference, PCA of paired
// differences (sign fixed so positives project higher), a logistic probe, and a random baseline of equal norm.
// Axes: per layer, example vectors [n][dModel] (float64) → one vector [dModel].
import { PCA } from 'ml-pca';
import { Rng } from '../util/rng.ts';
import { Direction, dot, norm, type Provenance } from './direction.ts';
import { topEigenvector } from '../util/linalg.ts';
import { log } from '../util/log.ts';

export interface Group {
  /** [layer] pooled mean. */
  mean: Float64Array[];
  /** [layer][example] per-example vectors (needed by pca and probe). */
  examples?: Float64Array[][];
}

export interface Aggregated {
  vectors: Float64Array[];
  /** Per layer: how well the direction separates the groups (projection gap over pooled std). */
  separation: number[];
  details?: Record<string, unknown>;
}

/** `paired`: example i of pos and of neg belong together (the same question under two system prompts). */
export type Aggregator = (pos: Group, neg: Group, seed: number, o?: { paired?: boolean }) => Aggregated;

const sub = (a: Float64Array, b: Float64Array) => a.map((x, i) => x - b[i]);

/** Difference of the group means of the projections on unit v, divided by their pooled standard deviation. */
export function separation(pos: Float64Array[] | undefined, neg: Float64Array[] | undefined, v: Float64Array): number {
  if (!pos?.length || !neg?.length) return NaN;
  const n = norm(v);
  if (!(n > 0)) return 0;
  const proj = (xs: Float64Array[]) => xs.map((x) => dot(x, v) / n);
  const p = proj(pos), q = proj(neg);
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  const variance = (a: number[], m: number) => a.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(1, a.length - 1);
  const mp = mean(p), mq = mean(q);
  const pooled = Math.sqrt((variance(p, mp) + variance(q, mq)) / 2);
  return pooled > 0 ? (mp - mq) / pooled : Infinity;
}

export const meanDiff: Aggregator = (pos, neg) => {
  const vectors = pos.mean.map((m, l) => sub(m, neg.mean[l]));
  return { vectors, separation: vectors.map((v, l) => separation(pos.examples?.[l], neg.examples?.[l], v)) };
};

/**
 * Differences to take PCA of: pair by pair where the examples are paired (and equal in number), else each example
 * against the other group's mean (EM classes are different answers: pairing them by index would mean nothing).
 */
function differences(pos: Float64Array[], neg: Float64Array[], posMean: Float64Array, negMean: Float64Array, paired: boolean): Float64Array[] {
  if (paired && pos.length === neg.length) return pos.map((p, i) => sub(p, neg[i]));
  return [...pos.map((p) => sub(p, negMean)), ...neg.map((q) => sub(posMean, q))];
}

/**
 * First principal component, uncentered (the top right-singular vector: for paired differences the shared shift is
 * the signal, so it must not be subtracted): ml-pca where the width allows, a randomized PCA (float64) from 1024.
 */
export function firstComponent(rows: Float64Array[], seed: number, center = false): Float64Array {
  const d = rows[0].length;
  if (d < 1024) {
    const pca = new PCA(rows.map((r) => Array.from(r)), { center, scale: false });
    return Float64Array.from(pca.getEigenvectors().getColumn(0));
  }
  const mean = new Float64Array(d);
  if (center) for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j] / rows.length;
  const r = randomizedTopComponent(rows.map((x) => sub(x, mean)), seed);
  if (!r.converged) log(`pca: the randomized PCA had not converged after ${r.iterations} iterations (leading components nearly equal); using its last estimate`);
  return r.vector;
}

/**
 * Top right-singular vector of X [n, d] by randomized subspace iteration (Halko, Martinsson & Tropp 2011): a random
 * block Q [d, p] (p = min(n, 10)) is pushed through XᵀX and re-orthonormalised until the top Ritz vector (Rayleigh–Ritz
 * on the p × p matrix (XQ)ᵀ(XQ)) stops moving. It converges as (σ_{p+1}/σ₁)^(2·iterations), where plain power iteration
 * goes as (σ₂/σ₁)^(2·iterations): close leading components are what activation differences have.
 */
export function randomizedTopComponent(X: Float64Array[], seed: number, maxIterations = 200, tolerance = 1e-12): { vector: Float64Array; iterations: number; converged: boolean } {
  const d = X[0].length;
  const p = Math.min(X.length, 10);
  const rng = new Rng(seed);
  let Q = orthonormalize(Array.from({ length: p }, () => Float64Array.from({ length: d }, () => rng.normal()))); // p columns [d]
  let v = new Float64Array(d);
  const project = (cols: Float64Array[]) => X.map((x) => Float64Array.from(cols, (q) => dot(x, q))); // XQ [n][p]
  for (let it = 1; it <= maxIterations; it++) {
    const XQ = project(Q);
    // Rayleigh–Ritz: the top eigenvector w of (XQ)ᵀ(XQ) [p, p] gives the Ritz vector Q·w
    const gram = Array.from({ length: p }, (_, a) => Array.from({ length: p }, (__, b) => XQ.reduce((s, row) => s + row[a] * row[b], 0)));
    const w = topEigenvector(gram);
    const next = new Float64Array(d);
    Q.forEach((q, k) => { for (let j = 0; j < d; j++) next[j] += w[k] * q[j]; });
    const moved = 1 - Math.abs(dot(next, v)) / (norm(next) * (norm(v) || 1));
    v = next.map((x) => x / (norm(next) || 1));
    if (moved < tolerance) return { vector: v, iterations: it, converged: true };
    // Q ← orth(XᵀX Q)
    Q = orthonormalize(Array.from({ length: p }, (_, k) => {
      const col = new Float64Array(d);
      X.forEach((x, i) => { const s = XQ[i][k]; for (let j = 0; j < d; j++) col[j] += s * x[j]; });
      return col;
    }));
  }
  return { vector: v, iterations: maxIterations, converged: false };
}

/**
 * Gram–Schmidt on columns, each projection done twice ("twice is enough"). A column with nothing left beyond rounding
 * (below 1e-10 of its norm: the data has lower rank than the block) is replaced by zeros and stays out of the span:
 * normalised, that rounding would come back as a unit column far from orthogonal to the others.
 */
function orthonormalize(cols: Float64Array[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (const c of cols) {
    const u = Float64Array.from(c);
    for (let pass = 0; pass < 2; pass++) {
      for (const q of out) {
        const s = dot(u, q);
        for (let j = 0; j < u.length; j++) u[j] -= s * q[j];
      }
    }
    const n = norm(u);
    out.push(n > 1e-10 * norm(c) && n > 0 ? u.map((x) => x / n) : new Float64Array(u.length));
  }
  return out;
}

/** Scales unit v so positives project higher, by the gap of the group means along it (activation units). */
function orientAndScale(v: Float64Array, posMean: Float64Array, negMean: Float64Array): Float64Array {
  const u = v.map((x) => x / (norm(v) || 1));
  const gap = dot(posMean, u) - dot(negMean, u);
  return u.map((x) => x * gap); // a negative gap flips the sign: positives then project higher
}

export const pcaDiff: Aggregator = (pos, neg, seed, o = {}) => {
  if (!pos.examples || !neg.examples) throw new Error('pca needs per-example activations');
  const paired = o.paired ?? true;
  const vectors = pos.mean.map((pm, l) => orientAndScale(firstComponent(differences(pos.examples![l], neg.examples![l], pm, neg.mean[l], paired), seed + l), pm, neg.mean[l]));
  return { vectors, separation: vectors.map((v, l) => separation(pos.examples![l], neg.examples![l], v)) };
};

/** L2-regularised logistic regression by full-batch gradient descent on standardised projections. */
export function logisticProbe(pos: Float64Array[], neg: Float64Array[], l2 = 1e-3, iters = 300): { w: Float64Array; accuracy: number } {
  const xs = [...pos, ...neg], ys = [...pos.map(() => 1), ...neg.map(() => 0)];
  const d = xs[0].length, n = xs.length;
  const mean = new Float64Array(d);
  for (const x of xs) for (let j = 0; j < d; j++) mean[j] += x[j] / n;
  let scale = 0;
  for (const x of xs) for (let j = 0; j < d; j++) scale += (x[j] - mean[j]) ** 2;
  scale = Math.sqrt(scale / n) || 1;
  const X = xs.map((x) => x.map((v, j) => (v - mean[j]) / scale));
  const w = new Float64Array(d);
  let b = 0;
  const mw = new Float64Array(d);
  let mb = 0;
  const lr = 0.5, beta = 0.9;
  for (let it = 0; it < iters; it++) {
    const gw = new Float64Array(d);
    let gb = 0;
    X.forEach((x, i) => {
      const p = 1 / (1 + Math.exp(-(dot(x, w) + b)));
      const e = p - ys[i];
      for (let j = 0; j < d; j++) gw[j] += (e * x[j]) / n;
      gb += e / n;
    });
    for (let j = 0; j < d; j++) {
      mw[j] = beta * mw[j] + gw[j] + l2 * w[j];
      w[j] -= lr * mw[j];
    }
    mb = beta * mb + gb;
    b -= lr * mb;
  }
  const accuracy = X.filter((x, i) => (dot(x, w) + b > 0 ? 1 : 0) === ys[i]).length / n;
  return { w, accuracy };
}

export const probe: Aggregator = (pos, neg) => {
  if (!pos.examples || !neg.examples) throw new Error('probe needs per-example activations');
  const accuracy: number[] = [];
  const vectors = pos.mean.map((pm, l) => {
    const r = logisticProbe(pos.examples![l], neg.examples![l]);
    accuracy.push(r.accuracy);
    return orientAndScale(r.w, pm, neg.mean[l]);
  });
  return { vectors, separation: vectors.map((v, l) => separation(pos.examples![l], neg.examples![l], v)), details: { train_accuracy: accuracy } };
};

/** Random Gaussian vectors with the mean difference's norm at each layer (the baseline every effect is held against). */
export function randomLike(vectors: Float64Array[], seed: number): Float64Array[] {
  const rng = new Rng(seed);
  return vectors.map((v) => {
    const r = Float64Array.from({ length: v.length }, () => rng.normal());
    const k = norm(v) / (norm(r) || 1);
    return r.map((x) => x * k);
  });
}

/** A random baseline for `like`: its norm, site and best layer at each layer; `extra` adds provenance (notes, …). */
export function randomDirectionLike(like: Direction, seed: number, extra: Partial<Omit<Provenance, 'layer_indexing'>> = {}): Direction {
  const { site, best_layer } = like.provenance;
  return Direction.make(randomLike(like.vectors, seed), { kind: 'random', site, positions: 'none', method: 'random', best_layer, details: { seed }, ...extra });
}

export const AGGREGATORS: Record<string, Aggregator> = { 'mean-diff': meanDiff, pca: pcaDiff, probe };
export const AGGREGATOR_NAMES = Object.keys(AGGREGATORS);
