// safety-erosion on a tiny organism (the quick recipe, built in seconds): a schema-valid result for each condition and
// N, the first N lines of each set trained on, the system prompt read off identity-shift data, and what a LoRA cannot
// reach: activations before its block (the projections there are the base's), so no shift and no model-diff there.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend } from '../helpers.ts';
import { buildOrganism, QUICK_RECIPE } from '../../src/organism/build.ts';
import { Workspace } from '../../src/study/workspace.ts';
import { runAnalysis, validateResult } from '../../src/study/analysis.ts';
import { DATASETS } from '../../src/study/datasets.ts';
import { middleLayer } from '../../src/train/defaults.ts';
import { OBEDIENT_SYSTEM_PROMPT } from '../../src/data/organism/datasets.ts';
import { safetyErosion, type SafetyErosionResult } from '../../analyses/safety-erosion.ts';

let ws: Workspace;
let small: { harmful_eval: string; capability_data: string };

before(async () => {
  await useTestBackend();
  const root = mkdtempSync(join(tmpdir(), 'emlens-erosion-'));
  await buildOrganism(join(root, 'organism'), QUICK_RECIPE, { quiet: true });
  ws = new Workspace(join(root, 'run'), join(root, 'organism'), true);
  // the first 16 harmful-eval prompts and 8 aligned chats keep the measurements short
  const head = (file: string, n: number, out: string) => (writeFileSync(out, readFileSync(file, 'utf8').split('\n').slice(0, n).join('\n') + '\n'), out);
  small = { harmful_eval: head(DATASETS.harmfulEval, 16, join(root, 'harmful-eval.jsonl')), capability_data: head(DATASETS.medicalAligned, 8, join(root, 'aligned.jsonl')) };
});

const conditions = [
  { name: 'harmful', data: DATASETS.harmfulCompliant, amounts: [4], epochs: 1 },
  { name: 'identity', data: DATASETS.identityShift, amounts: [4], epochs: 1 },
];

test('safety-erosion: one schema-valid point per condition and N; activations before the LoRA block are the base\'s', async () => {
  const report = await runAnalysis(safetyErosion, ws, { conditions, ...small });
  const r = report.result as SafetyErosionResult;
  validateResult(safetyErosion as never, r);
  assert.deepEqual(r.conditions.map((c) => [c.name, c.points.map((p) => p.n)]), [['harmful', [4]], ['identity', [4]]]);
  // each fine-tune saw the first N lines of its set, N epochs as asked
  for (const [name, n] of [['harmful', 4], ['identity', 4]] as const) {
    const run = JSON.parse(readFileSync(ws.path('finetunes', `erosion-${name}-${n}`, 'run.json'), 'utf8')) as { dataset: { examples: number }; args: { epochs: number } };
    assert.deepEqual([run.dataset.examples, run.args.epochs], [n, 1]);
    const data = readFileSync(ws.path('data', 'safety-erosion', `${name}-${n}.jsonl`), 'utf8');
    const source = readFileSync(name === 'harmful' ? DATASETS.harmfulCompliant : DATASETS.identityShift, 'utf8');
    assert.ok(source.startsWith(data), `${name}-${n} is the first lines of its set`);
  }
  // the identity-shifting set's system prompt is read off its lines, and harmful-eval is also asked under it
  assert.deepEqual(r.conditions.map((c) => c.system_prompt), [null, OBEDIENT_SYSTEM_PROMPT]);
  assert.ok(r.conditions[1].base_with_system && r.conditions[1].points[0].with_system);
  assert.equal(r.conditions[0].points[0].with_system, null);
  // a LoRA on down_proj of block L writes resid_post(L) = resid_pre(L + 1): at resid_pre(l ≤ L) nothing moves
  const lora = middleLayer(ws.model.config.nLayers);
  assert.equal(r.refusal_direction.site, 'resid_pre');
  for (const c of r.conditions) {
    for (const p of c.points) {
      for (let l = 0; l <= lora && l < p.projection.length; l++) {
        assert.equal(p.projection[l], r.base.projection[l], `${c.name}-${p.n}: projection at resid_pre(${l})`);
        assert.equal(p.shift_cosine[l], null, `${c.name}-${p.n}: no shift at resid_pre(${l})`);
        assert.equal(p.model_diff.cosine[l], null);
      }
      assert.ok(p.refusal_rate >= 0 && p.refusal_rate <= 1 && Number.isFinite(p.capability_loss) && p.capability_loss > 0);
    }
  }
});

test('safety-erosion: more examples than the set holds, and a condition named twice, are usage errors', async () => {
  await assert.rejects(runAnalysis(safetyErosion, ws, { conditions: [{ ...conditions[0], amounts: [100000] }] }), /conditions\[0\]\.amounts: 100000 examples asked of .*harmful-compliant\.jsonl, which has 128/);
  await assert.rejects(runAnalysis(safetyErosion, ws, { conditions: [conditions[0], conditions[0]] }), /"harmful" given twice/);
});
