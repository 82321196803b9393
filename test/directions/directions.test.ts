// Directions: a planted direction is recovered by every aggregator (sign: positives project higher), the random
// baseline keeps norms, arithmetic and storage round-trip, a direction's cosine with itself is 1, ablating a
// planted direction removes it from the residual stream, and a LoRA's model-diff shift lies along its B.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, REF_DIR, tinyChatModelDir, tinyDataset } from '../helpers.ts';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { loadLora, withLora, disposeLora } from '../../src/adapters/lora.ts';
import { readChatJsonl } from '../../src/train/data.ts';
import { extractModelDiffDirection } from '../../src/recipes/directions.ts';
import { Direction, cosine, dot, norm } from '../../src/directions/direction.ts';
import { AGGREGATORS, randomLike, firstComponent, randomizedTopComponent } from '../../src/directions/aggregators.ts';
import { PCA } from 'ml-pca';
import { cosineTable } from '../../src/directions/compare.ts';
import { collectActivations, pooledMean } from '../../src/directions/collect.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { forward } from '../../src/model/transformer.ts';
import { hookNames } from '../../src/model/hooks.ts';
import { ablationHooks } from '../../src/interventions/ablate.ts';
import { steeringHook } from '../../src/interventions/steer.ts';
import { Rng } from '../../src/util/rng.ts';

let model: Model;
before(async () => {
  await useTestBackend();
  model = loadModel(join(REF_DIR, 'qwen2'));
});
after(() => disposeModel(model));

/** Two groups of noisy vectors that differ along a planted unit direction u (2 layers, dModel 64). */
function planted(seed: number, d = 64, n = 40, gap = 3) {
  const rng = new Rng(seed);
  const u = Float64Array.from({ length: d }, () => rng.normal());
  const un = norm(u);
  u.forEach((_, i) => (u[i] /= un));
  const sample = (sign: number) => Float64Array.from({ length: d }, (_, j) => rng.normal() * 0.5 + (sign * gap * u[j]) / 2);
  const group = (sign: number) => {
    const ex = [0, 1].map(() => Array.from({ length: n }, () => sample(sign)));
    return { examples: ex, mean: ex.map((xs) => xs[0].map((_, j) => xs.reduce((s, x) => s + x[j], 0) / xs.length)) };
  };
  return { u, pos: group(1), neg: group(-1) };
}

test('every aggregator recovers a planted direction, oriented so positives project higher', () => {
  const { u, pos, neg } = planted(1);
  for (const [name, agg] of Object.entries(AGGREGATORS)) {
    const r = agg(pos, neg, 0);
    for (let l = 0; l < 2; l++) {
      const c = cosine(r.vectors[l], u)!;
      assert.ok(c > 0.9, `${name} layer ${l}: cosine with the planted direction ${c}`);
      assert.ok(dot(pos.mean[l], r.vectors[l]) > dot(neg.mean[l], r.vectors[l]), `${name}: positives project higher`);
      assert.ok(r.separation[l] > 2, `${name}: separation ${r.separation[l]}`);
    }
  }
});

test('PCA of unpaired groups (EM classes) does not depend on the order of either group; paired groups are differenced pair by pair', () => {
  const { pos, neg } = planted(4, 64, 30);
  const shuffled = { mean: neg.mean, examples: neg.examples.map((xs) => [...xs].reverse()) };
  const a = AGGREGATORS.pca(pos, neg, 0, { paired: false }), b = AGGREGATORS.pca(pos, shuffled, 0, { paired: false });
  for (let l = 0; l < 2; l++) assert.ok(cosine(a.vectors[l], b.vectors[l])! > 1 - 1e-9, `layer ${l}`);
  const p1 = AGGREGATORS.pca(pos, neg, 0, { paired: true }), p2 = AGGREGATORS.pca(pos, shuffled, 0, { paired: true });
  assert.ok(cosine(p1.vectors[0], p2.vectors[0])! < 1 - 1e-6, 'paired: another pairing is another set of differences');
});

test('randomized PCA (width ≥ 1024) equals ml-pca on a wide problem whose two leading components are close', () => {
  const rng = new Rng(3);
  const d = 1100;
  const unitVec = () => { const v = Float64Array.from({ length: d }, () => rng.normal()); const n = norm(v); return v.map((x) => x / n); };
  const u1 = unitVec(), u2 = unitVec();
  // variances 25 and 23 along two nearly orthogonal directions: power iteration would move as (23/25)^k
  const rows = Array.from({ length: 40 }, () => { const a = rng.normal() * 5, b = rng.normal() * Math.sqrt(23); return Float64Array.from(u1, (x, j) => a * x + b * u2[j] + rng.normal() * 0.05); });
  const r = randomizedTopComponent(rows, 0);
  assert.ok(r.converged, `converged (${r.iterations} iterations)`);
  const exact = Float64Array.from(new PCA(rows.map((x) => Array.from(x)), { center: false, scale: false }).getEigenvectors().getColumn(0));
  assert.ok(Math.abs(cosine(r.vector, exact)!) > 1 - 1e-9, `cosine with ml-pca ${cosine(r.vector, exact)}`);
  assert.ok(Math.abs(cosine(firstComponent(rows, 1), exact)!) > 1 - 1e-9, 'firstComponent takes the randomized path from 1024 wide, whatever the seed');
  // data of lower rank than the block (here rank 1): the block's spare columns must not come back as rounding noise
  const rank1 = Array.from({ length: 40 }, (_, i) => u1.map((x) => x * Math.sin(i + 1)));
  const r1 = randomizedTopComponent(rank1, 0);
  assert.ok(r1.converged && Math.abs(cosine(r1.vector, u1)!) > 1 - 1e-12, `rank 1: cosine ${cosine(r1.vector, u1)}, converged ${r1.converged}`);
  const narrow = rows.map((x) => x.slice(0, 200));
  assert.ok(Math.abs(cosine(firstComponent(narrow, 0), randomizedTopComponent(narrow, 0).vector)!) > 1 - 1e-9, 'ml-pca path agrees');
});

test('the random baseline has the same norm per layer and is nearly orthogonal', () => {
  const { pos, neg } = planted(2, 512);
  const md = AGGREGATORS['mean-diff'](pos, neg, 0).vectors;
  const r = randomLike(md, 9);
  md.forEach((v, l) => {
    assert.ok(Math.abs(norm(r[l]) - norm(v)) < 1e-9);
    assert.ok(Math.abs(cosine(r[l], v)!) < 0.2);
  });
});

test('Direction arithmetic, cosine with itself, and save/load round trip', () => {
  const { pos, neg } = planted(4);
  const v = AGGREGATORS['mean-diff'](pos, neg, 0).vectors;
  const d = Direction.make(v, { kind: 'contrast', site: 'resid_post', positions: 'answer-mean', method: 'mean-diff', best_layer: 1 });
  assert.deepEqual(d.cosine(d).map((c) => Number(c!.toFixed(12))), [1, 1]);
  assert.ok(d.neg().cosine(d).every((c) => Math.abs(c! + 1) < 1e-12));
  const combo = d.scale(0.5).sub(d.normalize());
  assert.equal(combo.provenance.kind, 'derived');
  assert.ok(d.normalize().norms().every((n) => Math.abs(n - 1) < 1e-12));
  const file = d.save(join(mkdtempSync(join(tmpdir(), 'emlens-dir-')), 'planted'));
  const back = Direction.load(file);
  assert.equal(back.provenance.best_layer, 1);
  assert.equal(back.provenance.kind, 'contrast');
  back.vectors.forEach((row, l) => row.forEach((x, i) => assert.equal(x, Math.fround(v[l][i]))));
  const table = cosineTable([{ name: 'a', direction: d }, { name: 'b', direction: back }, { name: 'c', direction: d.neg() }]);
  assert.equal(table.pairs.length, 3);
  assert.ok(table.pairs[0].cosine.every((c) => c! > 0.999999));
  assert.ok(table.matrix[0][0][2]! < -0.999999);
});

test('collection: a direction steered into resid_post is found by mean-diff; ablation removes it from the stream', () => {
  const rng = new Rng(5);
  const v = Float32Array.from({ length: model.config.dModel }, () => rng.normal());
  const samples = Array.from({ length: 6 }, (_, i) => ({ ids: [1 + i, 85, 91, 266, 332], slots: [[2, 3, 4]] }));
  const start = tf.memory().numTensors;
  const plain = collectActivations(model, samples, { site: 'resid_post', batchSize: 4 });
  const steered = collectActivations(model, samples, { site: 'resid_post', batchSize: 4, hooks: [steeringHook({ layer: 1, alpha: 2, vector: v })] });
  assert.equal(tf.memory().numTensors, start, 'collection leaves no tensors');
  const diff = pooledMean(steered).map((m, l) => m.map((x, j) => x - pooledMean(plain)[l][j]));
  assert.ok(norm(diff[0]) < 1e-6, 'no change before the steered layer');
  assert.ok(cosine(diff[1], v)! > 0.999999, 'the steered layer moves exactly along v');
  assert.ok(Math.abs(norm(diff[1]) - 2 * norm(v)) < 1e-3);
  // ablation: the hooked residual stream has no component along v anywhere
  const r = forward(model, [[1, 85, 91, 266]], { hooks: ablationHooks(v, model.config.nLayers), cache: [hookNames.residPost(0), hookNames.residPre(2)] });
  for (const t of Object.values(r.activations)) {
    const x = t!.arraySync() as number[][][];
    for (const row of x[0]) assert.ok(Math.abs(dot(row, v)) / norm(v) < 1e-4);
  }
  tf.dispose([r.logits!, ...Object.values(r.activations)]);
});

test('collection at attn z and mlp post pools vectors of their own width (nHeads·dHead, dMlp), equal to the cached activations', () => {
  const qwen3 = loadModel(join(REF_DIR, 'qwen3'));
  try {
    const cases = [{ m: model, site: 'mlp_post' as const, width: model.config.dMlp }, { m: qwen3, site: 'z' as const, width: qwen3.config.nHeads * qwen3.config.dHead }];
    for (const { m, site, width } of cases) {
      assert.notEqual(width, m.config.dModel, `${site}: the fixture's width differs from dModel`);
      const samples = [[1, 85, 91, 266, 332], [7, 12, 40]].map((ids) => ({ ids, slots: [[1, ids.length - 1]] }));
      const c = collectActivations(m, samples, { site, batchSize: 2 });
      const got = pooledMean(c)[1];
      assert.equal(got.length, width);
      const want = new Float64Array(width);
      for (const s of samples) {
        const name = hookNames.site(site, 1);
        const r = forward(m, [s.ids], { cache: [name], logits: 'none' });
        const x = r.activations[name]!.arraySync() as number[][][];
        tf.dispose(Object.values(r.activations));
        for (const p of s.slots[0]) x[0][p].forEach((v, j) => (want[j] += v / 4));
      }
      const d = Math.max(...Array.from(got, (x, j) => Math.abs(x - want[j])));
      assert.ok(d < 1e-5, `${site}: pooled mean differs by ${d}`);
    }
  } finally {
    disposeModel(qwen3);
  }
});

test('collection keeps per-example vectors in the order the samples were given (batches are sorted by length)', () => {
  const samples = [[1, 2, 3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13], [14]].map((ids) => ({ ids, slots: [[ids.length - 1]] }));
  const all = collectActivations(model, samples, { site: 'resid_post', batchSize: 2, keepExamples: true });
  samples.forEach((s, i) => {
    const one = collectActivations(model, [s], { site: 'resid_post', keepExamples: true });
    const d = Math.max(...Array.from(one.examples![1][0][0], (x, j) => Math.abs(x - all.examples![1][0][i][j])));
    assert.ok(d < 1e-4, `example ${i} differs by ${d}`);
  });
});

test("model-diff: a down_proj LoRA's shift is zero before its block and along its B there; none without one is refused", () => {
  const dir = tinyChatModelDir();
  const tok = ChatTokenizer.load(dir);
  const base = loadModel(dir);
  const lora = loadLora(join(REF_DIR, 'qwen2-lora-r1'), base);
  const m = [...lora.modules.values()][0];
  const chats = readChatJsonl(tinyDataset(6)).map((e) => e.messages);
  const tensors = tf.memory().numTensors;
  const d = extractModelDiffDirection({ model: withLora(base, lora), tok }, { model: base }, chats, 'tiny');
  assert.equal(tf.memory().numTensors, tensors);
  d.vectors.slice(0, m.layer).forEach((v) => assert.equal(norm(v), 0));
  assert.ok(Math.abs(Math.abs(cosine(d.at(m.layer), m.B.dataSync())!) - 1) < 1e-4, 'the shift at the LoRA block lies along B');
  assert.equal(d.provenance.kind, 'model-diff');
  assert.throws(() => extractModelDiffDirection({ model: base, tok }, { model: base }, chats, 'tiny'), /same activations/);
  disposeLora(lora);
  disposeModel(base);
});

test('refusal direction: prompts the model does not already treat as harmful / harmless are left out (Arditi et al.)', async () => {
  const { extractRefusalDirection } = await import('../../src/recipes/directions.ts');
  const { ORGANISM_DIR } = await import('../../src/cli/paths.ts');
  const organism = loadModel(ORGANISM_DIR);
  const tok = ChatTokenizer.load(ORGANISM_DIR);
  const chats = (f: string) => readChatJsonl(join(ORGANISM_DIR, '..', 'datasets', f), { requireAssistant: false }).map((e) => e.messages);
  const harmful = chats('harmful-train.jsonl').slice(0, 40), harmless = chats('harmless-train.jsonl').slice(0, 40);
  // 8 harmful prompts slipped into the harmless set: the organism refuses them, so they must not count as harmless
  const mixed = [...harmless.slice(0, 16), ...harmful.slice(32, 40), ...harmless.slice(16, 32)];
  const before = tf.memory().numTensors;
  const d = extractRefusalDirection({ model: organism, tok }, harmful.slice(0, 32), mixed, ['harmful', 'mixed']);
  assert.equal(tf.memory().numTensors, before);
  const kept = d.provenance.details!.kept as { harmful: number; harmless: number; of: { harmful: number; harmless: number } };
  assert.deepEqual(kept.of, { harmful: 32, harmless: 40 });
  assert.equal(kept.harmful, 32, 'the organism refuses every harmful training prompt');
  assert.equal(kept.harmless, 32, 'the 8 harmful prompts in the harmless set are dropped');
  assert.equal(d.provenance.counts!.neg, 24, '32 − 8 training prompts left; the last 8 (clean) are validation');
  assert.equal(d.provenance.site, 'resid_pre', "Arditi et al.'s block input by default");
  const post = extractRefusalDirection({ model: organism, tok, site: 'resid_post' }, harmful.slice(0, 32), harmless.slice(0, 32), ['harmful', 'harmless']);
  assert.equal(post.provenance.site, 'resid_post');
  // at the last template token, resid_pre(0) is that token's embedding, the same after any prompt; resid_post(0) is not
  assert.ok(d.norms()[0] < 1e-9 && post.norms()[0] > 1e-3, `row 0: ${d.norms()[0]} at resid_pre, ${post.norms()[0]} at resid_post`);
  disposeModel(organism);
});

test("signedToward: a LoRA-B direction is flipped where its cosine with the reference is negative at its layer, and says so", async () => {
  const { signedToward } = await import('../../src/directions/adapter-directions.ts');
  const prov = { kind: 'lora-b', adapter: 'run', site: 'mlp_out', positions: 'none', method: 'lora-b', best_layer: 1 } as const;
  const b = Direction.make([[0, 0], [1, 2]], prov);
  const ref = Direction.make([[5, 5], [-1, -1]], { ...prov, kind: 'em', method: 'mean-diff' });
  const s = signedToward(b, ref, 'em:x');
  assert.deepEqual(s.vectors.map((v) => [...v]), [[-0, -0], [-1, -2]]);
  assert.ok(ref.cosine(s)[1]! > 0);
  assert.deepEqual([s.provenance.kind, s.provenance.details?.signed_toward, s.provenance.details?.sign_flipped], ['lora-b', 'em:x', true]);
  const kept = signedToward(b, ref.neg(), 'em:x');
  assert.deepEqual(kept.vectors.map((v) => [...v]), [[0, 0], [1, 2]]);
  assert.equal(kept.provenance.details?.sign_flipped, false);
});
