// Interventions are scoped and exact: weight orthogonalisation equals directional ablation at every write to the
// residual stream and survives a save as an HF checkpoint; LoRA-B projection removes the direction and keeps ‖B‖;
// gates' dominant directions recover a planted one; the base model is unchanged afterwards.
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
import { projectLoraB, loraBDirections } from '../../src/interventions/lora-projection.ts';
import { loadLora, disposeLora } from '../../src/adapters/lora.ts';
import { createGates, gateDominantDirections, disposeGates } from '../../src/adapters/gates.ts';
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

test("a gate's dominant direction recovers the planted input direction", () => {
  const g = createGates(model, { kind: 'full', layers: [1] });
  const u = Float32Array.from({ length: model.config.dModel }, (_, i) => Math.cos(i * 0.7));
  const c = Float32Array.from({ length: g.channels }, (_, j) => Math.sin(j + 1));
  const layer = g.layers.get(1)!;
  (layer.W as unknown as tf.Variable).assign(tf.outerProduct(tf.tensor1d(u), tf.tensor1d(c)));
  const { vectors, strength } = gateDominantDirections(g, model.config.nLayers);
  assert.ok(Math.abs(cosine(vectors[1], u)!) > 0.9999);
  assert.ok(Math.abs(strength[1] - norm(u) * norm(c)) < 1e-3 * strength[1]);
  assert.equal(norm(vectors[0]), 0);
  disposeGates(g);
});
