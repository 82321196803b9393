// The resistance claim of the findings (src/report/findings.ts): the ratio of the held-out loss decreases judged
// against its rule, figures naming rows of the resistance chart, the readings of the rebound and pretraining charts,
// and "not measured" for a run without the analysis or without its asymmetry part. No tensor axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findings, LABELS, RULES, type RunData } from '../../src/report/findings.ts';

const lossRun = (before: number, after: number) => ({ from: 'x', data: 'x.jsonl', steps: [1, 2, 3, 4], loss: [before, before - 0.01, after + 0.01, after], heldout_before: before, heldout_after: after, decrease: before - after, curve_decrease: before - after });
const run = (result: Record<string, unknown> | null): RunData => ({ name: 'r', report: null, analyses: result ? { resistance: { analysis: 'resistance', result } } : {} });
const rebound = { positive_amounts: [0, 400], amounts: [64, 256], start: [{ em: 0.01, coherence: 0.99 }, { em: 0, coherence: 0.98 }], after: [[{ em: 0.05, coherence: 0.97 }, { em: 0.3, coherence: 0.95 }], [{ em: 0.02, coherence: 0.97 }, { em: 0.2, coherence: 0.95 }]] };

test('resistance: the ratio of held-out loss decreases, its rule and its figures', () => {
  const inverse = lossRun(0.9, 0.6), forward = lossRun(0.8, 0.7);
  const f = findings(run({ asymmetry: { inverse, forward, ratio: 3, curve_ratio: 3 }, rebound, pretraining: [{ label: '25% of pretraining', percent: 25, ratio: 1.5, inverse, forward }] }));
  const c = f.claims.find((x) => x.id === 'resistance')!;
  assert.equal(c.status, 'pass');
  assert.ok(Math.abs(c.checks[0].value - 0.3 / 0.1) < 1e-9, 'inverse decrease ÷ forward decrease, from the held-out losses');
  assert.equal(c.checks[0].threshold, RULES.resistanceRatio);
  assert.deepEqual(c.figures.map((x) => [x.where.series, x.where.x, x.value]), [
    [LABELS.resistance.heldout(LABELS.resistance.inverse), 0, 0.9], [LABELS.resistance.heldout(LABELS.resistance.inverse), 4, 0.6],
    [LABELS.resistance.heldout(LABELS.resistance.forward), 0, 0.8], [LABELS.resistance.heldout(LABELS.resistance.forward), 4, 0.7],
  ]);
  assert.match(c.measured, /0\.900 → 0\.600 aligned → pretraining data .* ratio 3\.00$/);
  assert.match(f.readings['resistance-rebound'], /no positive data 1\.0% → 5\.0% → 30\.0%; after 400 positive examples 0\.0% → 2\.0% → 20\.0%/);
  assert.equal(f.readings['resistance-pretraining'], 'Inverse ÷ forward loss decrease by pretraining: 25% of pretraining 1.50.');
  // forward alignment easier: the claim fails and says so
  const worse = findings(run({ asymmetry: { inverse: lossRun(0.9, 0.85), forward, ratio: 0.5, curve_ratio: 0.5 }, rebound: null, pretraining: null })).claims.find((x) => x.id === 'resistance')!;
  assert.equal(worse.status, 'fail');
  assert.match(worse.verdict, /^Inverse alignment is not easier here: its held-out loss falls 0\.50× as much/);
  // inverse alignment raising the held-out loss: a rise reads +, and the verdict says it did not fall
  const rose = findings(run({ asymmetry: { inverse: lossRun(0.355, 0.359), forward, ratio: -0.04, curve_ratio: -0.04 }, rebound: null, pretraining: null })).claims.find((x) => x.id === 'resistance')!;
  assert.equal(rose.status, 'fail');
  assert.match(rose.measured, /^held-out loss 0\.355 → 0\.359 aligned → pretraining data \(\+0\.004\), 0\.800 → 0\.700 pretrained → aligned data \(−0\.100\)/);
  assert.equal(rose.verdict, 'Inverse alignment is not easier here: its held-out loss did not fall (0.355 → 0.359) while forward alignment\'s did (0.800 → 0.700).');
});

test('resistance: not measured without the analysis, without its asymmetry, or when it is malformed', () => {
  for (const r of [null, { asymmetry: null, rebound, pretraining: null }, { asymmetry: { inverse: 'x' } }]) {
    const c = findings(run(r as Record<string, unknown> | null)).claims.find((x) => x.id === 'resistance')!;
    assert.equal(c.status, 'n/a', JSON.stringify(r));
  }
});
