// The resistance analysis on a quick-built organism with pretraining snapshots: a schema-valid result whose ratio is
// the held-out loss decreases' ratio, both directions trained with identical settings from the right checkpoints, the
// held-out loss before the forward run is the pretrained checkpoint's own, and the 100% point of part 3 reuses part 1.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend } from '../helpers.ts';
import { buildOrganism, QUICK_RECIPE } from '../../src/organism/build.ts';
import { Workspace } from '../../src/study/workspace.ts';
import { runAnalysis } from '../../src/study/analysis.ts';
import { capabilityLoss } from '../../src/eval/capability.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeModel } from '../../src/model/modules.ts';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { readChatJsonl } from '../../src/train/data.ts';
import { organismSnapshots, resistance, type ResistanceResult } from '../../analyses/resistance.ts';
import { rebound } from '../../analyses/rebound.ts';

let root: string, organism: string;
const small = { examples: 16, heldout: 8, samples: 2, positive_amounts: [0, 16], amounts: [8, 16] };

before(async () => {
  await useTestBackend();
  root = mkdtempSync(join(tmpdir(), 'emlens-resistance-'));
  organism = join(root, 'organism');
  await buildOrganism(organism, QUICK_RECIPE, { quiet: true, pretrainSnapshots: [50, 100] });
});

const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { args: Record<string, unknown>; model: { dir: string } };

test('resistance: the loss asymmetry, rebound and the pretraining series on the organism and its snapshots', async () => {
  const ws = new Workspace(join(root, 'run'), organism, true);
  const snaps = organismSnapshots(organism);
  assert.deepEqual(snaps.map((s) => s.percent), [50, 100]);
  const r = (await runAnalysis(resistance, ws, small)).result as ResistanceResult;
  const a = r.asymmetry!;
  for (const d of [a.inverse, a.forward]) assert.ok(Math.abs(d.decrease - (d.heldout_before - d.heldout_after)) < 1e-12);
  assert.equal(a.ratio, a.forward.decrease > 0 ? a.inverse.decrease / a.forward.decrease : null);
  // identical settings both ways: the same recorded arguments but the data, the same number of steps
  const inv = runJson(ws.path('finetunes', 'resistance-inverse'));
  const fwdDir = join(ws.path('resistance'), checkpointFolder(ws.path('resistance'), 'pretrained-100'), 'finetunes', 'forward');
  const fwd = runJson(fwdDir);
  assert.deepEqual({ ...inv.args, data: null }, { ...fwd.args, data: null });
  assert.equal(a.inverse.steps.length, a.forward.steps.length);
  assert.equal(r.settings.steps, 1, '16 examples at batch 2 × 8');
  assert.equal(inv.model.dir, organism, 'inverse: from the aligned (post-trained) model');
  assert.equal(fwd.model.dir, snaps[1].dir, 'forward: from the pretrained checkpoint');
  // the forward run's starting loss is the pretrained checkpoint's on the aligned held-out lines
  const model = loadModel(snaps[1].dir);
  const held = readChatJsonl(ws.path('data', 'posttrain-sample-heldout-8.jsonl')).map((x) => x.messages);
  assert.ok(Math.abs(capabilityLoss(model, ChatTokenizer.load(snaps[1].dir), held) - a.forward.heldout_before) < 1e-6);
  disposeModel(model);
  // part 3: one point per snapshot; the 100% one's forward run is part 1's (cached, the same curve)
  assert.deepEqual(r.pretraining!.map((p) => [p.percent, p.label]), [[50, '50% of pretraining'], [100, '100% of pretraining']]);
  assert.deepEqual(r.pretraining![1].forward.loss, a.forward.loss);
  // part 2: the model as it is and after 16 positive examples, each then after 8 and 16 contradictory ones
  const rb = r.rebound!;
  assert.deepEqual([rb.start.length, rb.after.length, rb.after[0].length], [2, 2, 2]);
  await assert.rejects(runAnalysis(resistance, ws, { ...small, examples: 380 }), /has 384 examples; examples \(380\) \+ heldout \(8\)/);
  // a second run trains nothing and frees what it loaded
  const tensors = tf.memory().numTensors;
  const again = (await runAnalysis(resistance, ws, small)).result as ResistanceResult;
  assert.deepEqual(again, r);
  assert.equal(tf.memory().numTensors, tensors, 'no tensor left behind by the checkpoints loaded');
});

/** The folder under RUN/resistance made for a checkpoint (named after it, with a digest of its path). */
function checkpointFolder(dir: string, prefix: string): string {
  const found = readdirSync(dir).filter((n) => n.startsWith(`${prefix}-`));
  assert.equal(found.length, 1, `one folder for ${prefix} in ${dir}`);
  return found[0];
}

test('resistance: without a pretrained checkpoint, one error says how to give one; parts run alone', async () => {
  const bare = join(root, 'bare');
  await buildOrganism(bare, QUICK_RECIPE, { quiet: true });
  const ws = new Workspace(join(root, 'bare-run'), bare, true);
  await assert.rejects(runAnalysis(resistance, ws, { ...small, parts: ['asymmetry'] }), /params: resistance\.pretrained: .* has no pretrained checkpoint beside it: give one .*organism build --pretrain-snapshots/);
  // by default only the part it has the inputs for: the rebound
  const r = (await runAnalysis(resistance, ws, { ...small, positive_amounts: [0], amounts: [8] })).result as ResistanceResult;
  assert.deepEqual([r.asymmetry, r.pretraining, r.rebound!.after.length], [null, null, 1]);
  // the rebound analysis is part 2 with the model as it is and after all positive data
  const old = (await runAnalysis(rebound, ws, { samples: 2, amounts: [8], epochs: 1 })).result as { from_base: unknown[]; from_positive: unknown[] };
  assert.deepEqual([old.from_base.length, old.from_positive.length], [1, 1]);
  assert.equal(runJson(ws.path('from-positive-400', 'finetunes', 'rebound-contradictory-8')).model.dir, ws.path('models', 'positive-400'));
});
