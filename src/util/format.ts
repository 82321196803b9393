// Number formats shared by reports, findings and checks. No tensor axes.

/** A share as a percentage with one decimal: 0.2713 → "27.1%". */
export const pct1 = (v: number) => `${(100 * v).toFixed(1)}%`;
