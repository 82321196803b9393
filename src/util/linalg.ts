// Small dense linear algebra in float64 for what tfjs does not offer on every backend: the eigendecomposition of a
// small symmetric matrix. Axes: S [k, k] → values [k], vectors [k][k].

/** The unit eigenvector of the largest eigenvalue of a small symmetric matrix S [k, k]. */
export function topEigenvector(sym: number[][]): number[] {
  return symmetricEigen(sym).vectors[0];
}

/** Eigenvalues (largest first) and unit eigenvectors (vectors[i] for values[i]) of a symmetric S [k, k], by cyclic Jacobi rotations. */
export function symmetricEigen(sym: number[][]): { values: number[]; vectors: number[][] } {
  const k = sym.length;
  const a = sym.map((row) => [...row]); // rotated towards diagonal
  const vecs = a.map((_, i) => a.map((__, j): number => (i === j ? 1 : 0))); // columns: eigenvectors
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < k; p++) for (let q = p + 1; q < k; q++) off += a[p][q] ** 2;
    if (off <= 1e-30 * Math.max(1e-300, a.reduce((s, r, i) => s + r[i] ** 2, 0))) break;
    for (let p = 0; p < k; p++) {
      for (let q = p + 1; q < k; q++) {
        if (a[p][q] === 0) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let i = 0; i < k; i++) { // A ← A·J
          const [x, y] = [a[i][p], a[i][q]];
          a[i][p] = c * x - s * y; a[i][q] = s * x + c * y;
        }
        for (let j = 0; j < k; j++) { // A ← Jᵀ·A
          const [x, y] = [a[p][j], a[q][j]];
          a[p][j] = c * x - s * y; a[q][j] = s * x + c * y;
        }
        for (let i = 0; i < k; i++) { // V ← V·J
          const [x, y] = [vecs[i][p], vecs[i][q]];
          vecs[i][p] = c * x - s * y; vecs[i][q] = s * x + c * y;
        }
      }
    }
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((i, j) => a[j][j] - a[i][i]);
  return { values: order.map((i) => a[i][i]), vectors: order.map((c) => vecs.map((row) => row[c])) };
}
