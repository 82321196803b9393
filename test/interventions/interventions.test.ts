// Interventions are scoped and exact: weight orthogonalisation equals directional ablation at every write to the
// residual stream and survives a save as an HF checkpoint; LoRA-B projection removes the direction and keeps ‖B‖;
// an adapter's write direction is what it adds to the residual stream; gates' dominant directions recover a planted one; the base model is unchanged afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, REF_DIR, loadReference, flatLogits } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { saveModel } from '../../src/model/save.ts';
import { ablationHooks } from '../../src/interventions/ablate.ts';
import { orthogonalizeWeights, disposeOrthogonalized } from '../../src/interventions/orthogonalize.ts';
import { projectLoraB } from '../../src/interventions/lora-projection.ts';
import { gateDominantDirections, gateDirection, loraBDirections, loraWriteDirection } from '../../src/directions/adapter-directions.ts';
import { loadLora, disposeLora, withLora } from '../../src/adapters/lora.ts';
import { forward } from '../../src/model/transformer.ts';
import { hookNames } from '../../src/model/hooks.ts';
import { createGates, disposeGates } from '../../src/adapters/gates.ts';
import { cosine, norm } from '../../src/directions/direction.ts';
import type { Hook } from '../../src/model/hooks.ts';

let model: Model;
const ids = [[1, 85, 91, 266, 332, 201, 384, 306]];
const logits = (m: Model, hooks: Hook[] = []) => flatLogits(m, ids, hooks);
before(async () => {
  await useTestBackend();
  model = loadModel(join(REF_DIR, 'qwen2'));
});
after(() => disposeModel(model));

test('weight orthogonalisation equals full directional ablation, also after saving as an HF checkpoint', () => {
  const v = Float32Array.from(loadReference('qwen2').direction);
  const before = logits(model);
  const ablated = logits(model, ablationHooks(v, model.config.nLayers, undefined, 'full'));
  const ortho = orthogonalizeWeights(model, v);
  const o = logits(ortho);
  o.forEach((x, i) => assert.ok(Math.abs(x - ablated[i]) < 1e-4, `logit ${i}: ${x} vs ${ablated[i]}`));
  const dir = join(mkdtempSync(join(tmpdir(), 'emlens-ortho-')), 'model');
  saveModel(ortho, dir);
  const reloaded = loadModel(dir);
  assert.deepEqual(logits(reloaded), o);
  disposeModel(reloaded);
  disposeOrthogonalized(ortho, model);
  assert.deepEqual(logits(model), before, 'the base model is unchanged');
});

test('weight orthogonalisation is refused where a norm follows o_proj and down_proj (gemma2: it would not equal ablation)', () => {
  const gemma = loadModel(join(REF_DIR, 'gemma2'));
  try {
    assert.throws(() => orthogonalizeWeights(gemma, new Float32Array(gemma.config.dModel).fill(1)), /normalises each attention and MLP output/);
  } finally {
    disposeModel(gemma);
  }
});

test('LoRA-B projection removes the direction, keeps ‖B‖ and leaves the adapter it came from alone', () => {
  const lora = loadLora(join(REF_DIR, 'qwen2-lora-r1'), model);
  const m = [...lora.modules.values()][0];
  const B0 = m.B.dataSync().slice();
  const dirs = loraBDirections(lora, model.config.nLayers, 'ref');
  assert.equal(dirs.length, 1);
  assert.equal(dirs[0].provenance.best_layer, m.layer);
  const v = Float32Array.from(dirs[0].at()).map((x, i) => x + Math.sin(i)); // a direction with a component along B
  const projected = projectLoraB(lora, v);
  const pm = [...projected.modules.values()][0];
  const pb = pm.B.dataSync();
  assert.ok(Math.abs(cosine(pb, v)!) < 1e-5, 'B ⟂ v');
  assert.ok(Math.abs(norm(pb) - norm(B0)) < 1e-5, '‖B‖ kept');
  assert.deepEqual(m.B.dataSync(), B0, 'the source adapter is unchanged');
  disposeLora(projected);
  const alongB = projectLoraB(lora, (layer) => (layer === m.layer ? dirs[0].at() : v));
  assert.equal(norm([...alongB.modules.values()][0].B.dataSync()), 0, "a rank-1 B ablated along itself is 0, not rounding rescaled to ‖B‖");
  disposeLora(alongB);
  assert.deepEqual(m.B.dataSync(), B0);
  disposeLora(lora);
});

test("an adapter's write direction: what it adds to resid_post at its layer lies along it; rank > 1 gives the top singular row", () => {
  const lora = loadLora(join(REF_DIR, 'qwen2-lora-r1'), model);
  const m = [...lora.modules.values()][0];
  const d = loraWriteDirection(lora, model.config.nLayers, 'ref');
  assert.equal(d.provenance.best_layer, m.layer);
  assert.deepEqual([...d.at(m.layer)], [...m.B.dataSync()].map(Number));
  d.vectors.forEach((v, l) => l !== m.layer && assert.equal(norm(v), 0));
  const site = hookNames.site('resid_post', m.layer);
  const [base, tuned] = [model, withLora(model, lora)].map((x) => {
    const r = forward(x, ids, { cache: [site], logits: 'none' });
    const a = r.activations[site]!.dataSync().slice(); // [1, seq, dModel]
    r.activations[site]!.dispose();
    return a;
  });
  const dModel = model.config.dModel;
  for (let t = 0; t < ids[0].length; t++) {
    const diff = Array.from({ length: dModel }, (_, j) => tuned[t * dModel + j] - base[t * dModel + j]);
    assert.ok(Math.abs(Math.abs(cosine(diff, d.at())!) - 1) < 1e-4, `position ${t}: the LoRA's write is along B`);
  }
  // two rows 2u and −u: one direction, σ₁ = √5‖u‖, signed toward their sum u
  const u = Array.from({ length: dModel }, (_, j) => Math.cos(j));
  const two = { ...lora, modules: new Map([[`${m.layer}.down_proj`, { ...m, B: tf.tensor2d([u.map((x) => 2 * x), u.map((x) => -x)]) }]]) };
  const top = loraWriteDirection(two, model.config.nLayers, 'two rows').at();
  top.forEach((x, j) => assert.ok(Math.abs(x - Math.sqrt(5) * u[j]) < 1e-6, `component ${j}`)); // B is float32
  // rows u and −u: their Gram matrix's top eigenvector (1, −1)/√2 is orthogonal to the all-ones start of a naive
  // power iteration; the write is still √2·u (up to sign: the rows sum to zero)
  const opposite = { ...lora, modules: new Map([[`${m.layer}.down_proj`, { ...m, B: tf.tensor2d([u, u.map((x) => -x)]) }]]) };
  const both = loraWriteDirection(opposite, model.config.nLayers, 'opposite rows').at();
  const sign = Math.sign(both[0] / u[0]);
  both.forEach((x, j) => assert.ok(Math.abs(x - sign * Math.SQRT2 * u[j]) < 1e-6, `opposite rows, component ${j}`));
  tf.dispose([...two.modules.values(), ...opposite.modules.values()].map((x) => x.B));
  disposeLora(lora);
});

test("a gate's dominant direction recovers the planted input direction", () => {
  const g = createGates(model, { kind: 'full', layers: [1] });
  const u = Float32Array.from({ length: model.config.dModel }, (_, i) => Math.cos(i * 0.7));
  const c = Float32Array.from({ length: g.channels }, (_, j) => Math.sin(j + 1));
  const layer = g.layers.get(1)!;
  (layer.W as unknown as tf.Variable).assign(tf.outerProduct(tf.tensor1d(u), tf.tensor1d(c)));
  const { vectors, strength } = gateDominantDirections(g, model.config.nLayers);
  const opens = c.reduce((a, x) => a + x, 0) > 0 ? 1 : -1; // along +u the gates open when Σc > 0
  assert.ok(opens * cosine(vectors[1], u)! > 0.9999, 'signed so that the gates open along it');
  assert.ok(Math.abs(strength[1] - norm(u) * norm(c)) < 1e-3 * strength[1]);
  assert.equal(norm(vectors[0]), 0);
  (layer.W as unknown as tf.Variable).assign(tf.outerProduct(tf.tensor1d(u), tf.tensor1d(c.map((x) => -x))));
  const flipped = gateDirection(g, model.config.nLayers, 'planted');
  assert.ok(-opens * cosine(flipped.at(1), u)! > 0.9999, 'the sign follows what opens the gates, not the power iteration');
  assert.equal(flipped.provenance.best_layer, 1);
  disposeGates(g);
});
