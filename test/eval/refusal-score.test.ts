// The refusal score log p(R) − log(1 − p(R)) (Arditi et al.): equal to the direct formula where that is exact, and
// exact at both tails where a clamped probability would cap it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refusalScore } from '../../src/eval/refusal.ts';

test('refusal score: the log-odds of the refusal tokens, exact far into both tails', () => {
  const logits = Float32Array.from([1.5, -0.25, 3, 0.5, -2, 0]);
  const z = Array.from(logits, (v) => Math.exp(v));
  const total = z.reduce((a, b) => a + b, 0);
  const p = (z[0] + z[2]) / total;
  assert.ok(Math.abs(refusalScore(logits, [0, 2]) - (Math.log(p) - Math.log(1 - p))) < 1e-9);
  // refusal tokens at logit 60 against nine tokens at 0: 60 − log 9; and the mirror image
  const high = new Float32Array(10);
  high[3] = 60;
  assert.ok(Math.abs(refusalScore(high, [3]) - (60 - Math.log(9))) < 1e-6, `${refusalScore(high, [3])}`);
  const low = new Float32Array(10);
  low[3] = -60;
  assert.ok(Math.abs(refusalScore(low, [3]) - (-60 - Math.log(9))) < 1e-6, `${refusalScore(low, [3])}`);
});
