// Organism builds (quick recipe, seconds): a kept end-of-pretraining checkpoint post-trains again to the very same
// weights, accepts another post-training recipe, and refuses another pretraining one; sharded recipes do not depend
// on the worker count; post-training limited to some weights leaves the others as pretrained. No tensor axes.
import { test, before } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, existsSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { useTestBackend } from '../helpers.ts';
import { buildOrganism, PRETRAINED_DIR, QUICK_RECIPE } from '../../src/organism/build.ts';
import { SafetensorsFile } from '../../src/model/safetensors.ts';

let root: string;
before(async () => {
  await useTestBackend();
  root = mkdtempSync(join(tmpdir(), 'emlens-build-'));
});

const weights = (dir: string) => readFileSync(join(dir, 'model.safetensors'));

test('--keep-pretrained / --from-pretrained: post-training the kept checkpoint again gives the same weights', async () => {
  const a = join(root, 'a');
  const full = await buildOrganism(a, QUICK_RECIPE, { quiet: true, keepPretrained: true });
  const kept = join(a, PRETRAINED_DIR);
  assert.ok(existsSync(join(kept, 'checkpoint', 'state.json')) && existsSync(join(kept, 'pretraining.json')));
  assert.ok(!existsSync(join(a, '.build')), 'the work folder is removed, the kept checkpoint stays');

  const b = join(root, 'b');
  const again = await buildOrganism(b, QUICK_RECIPE, { quiet: true, fromPretrained: kept });
  assert.deepEqual(weights(b), weights(a));
  assert.equal(again.pretrainLoss, full.pretrainLoss, 'the pretraining loss comes with the checkpoint');
  const metrics = readFileSync(join(b, 'build-metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(metrics.filter((m) => m.phase === 'pretrain').length, QUICK_RECIPE.pretrain.steps);

  // lines logged after the checkpoint a build restarts from (here two post-training steps, one torn) are not kept twice
  const appended = join(root, 'kept-plus');
  cpSync(kept, appended, { recursive: true });
  writeFileSync(join(appended, 'metrics.jsonl'), readFileSync(join(kept, 'metrics.jsonl'), 'utf8') + '{"phase":"posttrain","step":1,"loss":9}\n{"phase":"posttr');
  const d = join(root, 'd');
  await buildOrganism(d, QUICK_RECIPE, { quiet: true, fromPretrained: appended });
  const dm = readFileSync(join(d, 'build-metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(dm.filter((m) => m.phase === 'posttrain').map((m) => m.step), Array.from({ length: QUICK_RECIPE.posttrain.steps }, (_, i) => i + 1));
  assert.ok(dm.every((m) => m.loss !== 9));

  const c = join(root, 'c');
  const longer = { ...QUICK_RECIPE, posttrain: { ...QUICK_RECIPE.posttrain, steps: QUICK_RECIPE.posttrain.steps + 2 } };
  await buildOrganism(c, longer, { quiet: true, fromPretrained: kept });
  assert.notDeepEqual(weights(c), weights(a));
  assert.equal(JSON.parse(readFileSync(join(c, 'build.json'), 'utf8')).recipe.posttrain.steps, longer.posttrain.steps);
});

test('a sharded recipe gives the same weights on one thread as with a worker thread per shard, with all weights or some post-trained', async () => {
  // every weight post-trained, and the default's post-training of attention alone: the workers differentiate the
  // post-trained weights only, with the same result
  const allWeights = { ...QUICK_RECIPE, shards: 2, posttrain: { ...QUICK_RECIPE.posttrain, params: undefined } };
  const limited = { ...QUICK_RECIPE, shards: 2 };
  assert.deepEqual(limited.posttrain.params, ['self_attn']);
  const before = tf.memory().numTensors;
  const here = await buildOrganism(join(root, 'g'), allWeights, { quiet: true, workers: 0 });
  const spread = await buildOrganism(join(root, 'h'), allWeights, { quiet: true, workers: 1 });
  assert.deepEqual(weights(join(root, 'h')), weights(join(root, 'g')));
  assert.equal(spread.pretrainLoss, here.pretrainLoss);
  await buildOrganism(join(root, 'j'), limited, { quiet: true, workers: 0 });
  await buildOrganism(join(root, 'k'), limited, { quiet: true, workers: 1 });
  assert.deepEqual(weights(join(root, 'k')), weights(join(root, 'j')));
  assert.notDeepEqual(weights(join(root, 'j')), weights(join(root, 'g')));
  assert.notDeepEqual(weights(join(root, 'j')), weights(join(root, 'a')), 'shards are one gradient summed, not the unsharded mean');
  assert.equal(tf.memory().numTensors, before);
  await assert.rejects(buildOrganism(join(root, 'i'), { ...QUICK_RECIPE, shards: 8 }, { quiet: true }), /8 shards for batches of 4/);
});

test('--from-pretrained refuses a checkpoint of another pretraining, and a folder that is not one', async () => {
  const kept = join(root, 'a', PRETRAINED_DIR);
  const other = { ...QUICK_RECIPE, pretrain: { ...QUICK_RECIPE.pretrain, lr: QUICK_RECIPE.pretrain.lr / 2 } };
  await assert.rejects(buildOrganism(join(root, 'd'), other, { quiet: true, fromPretrained: kept }), /pretrained with another recipe or corpus/);
  await assert.rejects(buildOrganism(join(root, 'e'), { ...QUICK_RECIPE, seed: 2 }, { quiet: true, fromPretrained: kept }), /another recipe or corpus/);
  await assert.rejects(buildOrganism(join(root, 'f'), QUICK_RECIPE, { quiet: true, fromPretrained: root }), /not a pretrained checkpoint/);
});

test('posttrain.params: post-training moves the matching weights only, and a pattern matching none is refused', async () => {
  const kept = join(root, 'a', PRETRAINED_DIR);
  const asPretrained = { ...QUICK_RECIPE, posttrain: { ...QUICK_RECIPE.posttrain, steps: 0 } };
  await buildOrganism(join(root, 'p0'), asPretrained, { quiet: true, fromPretrained: kept });
  const only = { ...QUICK_RECIPE, posttrain: { ...QUICK_RECIPE.posttrain, params: ['^model\\.layers\\.1\\.mlp\\.'] } };
  await buildOrganism(join(root, 'p1'), only, { quiet: true, fromPretrained: kept });
  const [pre, post] = ['p0', 'p1'].map((d) => SafetensorsFile.open(join(root, d, 'model.safetensors')));
  try {
    const names = [...pre.tensors.keys()];
    const moved = names.filter((n) => !Buffer.from(pre.readF32(n).buffer).equals(Buffer.from(post.readF32(n).buffer)));
    assert.deepEqual(moved.sort(), names.filter((n) => n.startsWith('model.layers.1.mlp.')).sort());
    assert.equal(moved.length, 3, 'gate_proj, up_proj and down_proj of block 1');
  } finally {
    pre.close();
    post.close();
  }
  const none = { ...QUICK_RECIPE, posttrain: { ...QUICK_RECIPE.posttrain, params: ['^nothing\\.'] } };
  // an interrupted build in that folder is left as it was: the recipe is checked before OUT/.build is touched
  const interrupted = join(root, 'p2', '.build', 'checkpoint', 'state.json');
  mkdirSync(dirname(interrupted), { recursive: true });
  writeFileSync(interrupted, '{"phase":"pretrain","step":3}');
  await assert.rejects(buildOrganism(join(root, 'p2'), none, { quiet: true }), /posttrain\.params "\^nothing\\\." matches no weight/);
  assert.equal(readFileSync(interrupted, 'utf8'), '{"phase":"pretrain","step":3}');
});

test('--resume refuses another recipe than the build started with; --quick will not write over the built-in organism', async () => {
  const out = join(root, 'resumed');
  mkdirSync(join(out, '.build', 'checkpoint'), { recursive: true });
  writeFileSync(join(out, '.build', 'checkpoint', 'state.json'), '{}');
  writeFileSync(join(out, '.build', 'recipe.json'), JSON.stringify({ ...QUICK_RECIPE, seed: 99 }));
  await assert.rejects(buildOrganism(out, QUICK_RECIPE, { resume: true, quiet: true }), /resume: .* was started with another recipe/);
  const { spawnSync } = await import('node:child_process');
  const { PACKAGE_ROOT } = await import('../../src/cli/paths.ts');
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), 'organism', 'build', '--quick'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--quick needs --out DIR/);
});
