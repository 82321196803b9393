// Gradients of LoRA, gate and steering-vector parameters through the whole model match central finite differences.
// Axes: the loss is the assistant-token NLL of one small batch; parameters as each adapter defines them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { useTestBackend, REF_DIR } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { createAdapter, type TrainableAdapter } from '../../src/adapters/adapter.ts';
import { collate } from '../../src/train/data.ts';
import { blockStart, nllSum, rowLogits } from '../../src/train/loss.ts';
import { forward } from '../../src/model/transformer.ts';
import { hookNames } from '../../src/model/hooks.ts';

let model: Model;
before(async () => {
  await useTestBackend();
  model = loadModel(join(REF_DIR, 'qwen2'));
});
after(() => disposeModel(model));

const batch = collate([
  { ids: [1, 85, 91, 266, 332, 201, 384, 306], target: [0, 0, 0, 0, 1, 1, 1, 1] },
  { ids: [7, 8, 9, 10, 11], target: [0, 0, 1, 1, 1] },
], 0);

function lossOf(adapter: TrainableAdapter): tf.Scalar {
  const { model: m, hooks } = adapter.attach(model);
  return nllSum(rowLogits(m, hooks, batch), batch.lossTargets);
}

/** Compares autodiff with (f(p + ε) − f(p − ε)) / 2ε at a few coordinates of each variable. */
function checkGradients(adapter: TrainableAdapter, perturb: (v: tf.Variable) => void): void {
  const vars = adapter.variables();
  for (const v of vars) perturb(v);
  const { grads, value } = tf.variableGrads(() => lossOf(adapter), vars);
  value.dispose();
  const eps = 1e-2;
  for (const v of vars) {
    const g = grads[v.name].dataSync();
    const orig = v.dataSync().slice();
    const n = orig.length;
    let largest = 0;
    let top = 0;
    for (let i = 1; i < n; i++) if (Math.abs(g[i]) > Math.abs(g[top])) top = i;
    for (const i of [top, 0, Math.floor(n / 3), n - 1]) {
      const at = (delta: number) => {
        const p = orig.slice();
        p[i] += delta;
        v.assign(tf.tensor(p, v.shape));
        return tf.tidy(() => lossOf(adapter).dataSync()[0]);
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      v.assign(tf.tensor(orig, v.shape));
      const tol = 2e-3 + 2e-2 * Math.abs(fd);
      assert.ok(Math.abs(g[i] - fd) < tol, `${v.name}[${i}]: autodiff ${g[i]} vs finite difference ${fd}`);
      largest = Math.max(largest, Math.abs(fd));
    }
    assert.ok(largest > 1e-3, `${v.name}: the checked gradients are all ~0 (${largest}), the check would prove nothing`);
  }
  tf.dispose(Object.values(grads));
}

const randomize = (scale: number) => (v: tf.Variable) => v.assign(tf.randomNormal(v.shape, 0, scale, 'float32', v.name.length));

test('LoRA A and B gradients match finite differences', () => {
  const a = createAdapter(model, { kind: 'lora', lora: { r: 2, alpha: 4, targets: ['down_proj', 'q_proj'], layers: [1] }, seed: 1 });
  checkGradients(a, randomize(0.3));
  a.dispose();
});

test('gate W and b gradients match finite differences (full and lowrank)', () => {
  for (const kind of ['full', 'lowrank'] as const) {
    const a = createAdapter(model, { kind: 'gate', gate: { kind, rank: 2, layers: [0, 2] }, seed: 2 });
    checkGradients(a, randomize(0.3));
    a.dispose();
  }
});

test('steering-vector gradients match finite differences', () => {
  const a = createAdapter(model, { kind: 'steer', steerLayers: [1] });
  checkGradients(a, randomize(0.5));
  a.dispose();
});

// training runs the blocks under an adapter's lowest outside the tape (blockStart): the loss and every gradient must be
// the same numbers as through the whole taped model, and the adapter must name its lowest block right
test('the blocks under the adapter run untaped: the same loss and gradients bit for bit', () => {
  const n0 = tf.memory().numTensors;
  const adapters: [TrainableAdapter, number][] = [
    [createAdapter(model, { kind: 'lora', lora: { r: 2, alpha: 4, targets: ['down_proj', 'q_proj'], layers: [2, 1] }, seed: 1 }), 1],
    [createAdapter(model, { kind: 'gate', gate: { kind: 'full', layers: [2] }, seed: 2 }), 2],
    [createAdapter(model, { kind: 'steer', steerLayers: [1] }), 1],
    [createAdapter(model, { kind: 'full' }), 0],
  ];
  for (const [a, first] of adapters) {
    assert.equal(a.firstLayer(), first, `${a.kind}: lowest block changed`);
    for (const v of a.variables()) if (a.kind !== 'full') tf.tidy(() => randomize(0.3)(v));
    const { model: m, hooks } = a.attach(model);
    const grads = (from: boolean) => {
      const start = from ? blockStart(m, hooks, batch, a.firstLayer()) : undefined;
      const { value, grads } = tf.variableGrads(() => nllSum(rowLogits(m, hooks, batch, start), batch.lossTargets), a.variables());
      const out = [value.dataSync()[0], ...Object.keys(grads).sort().flatMap((k) => [...grads[k].dataSync()])];
      tf.dispose([value, start?.x, ...Object.values(grads)]);
      return out;
    };
    const whole = grads(false), split = grads(true);
    assert.ok(whole.some((g, i) => i > 0 && g !== 0), `${a.kind}: every gradient is 0, the check would prove nothing`);
    assert.deepEqual(split, whole, `${a.kind}: loss or gradients differ when the blocks below ${first} run untaped`);
    a.dispose();
  }
  assert.equal(tf.memory().numTensors, n0, 'tensors left behind');
});

test('forward in parts (untilLayer, then from) equals the whole pass', () => {
  const ids = [[1, 85, 91, 266, 332], [7, 8, 9, 10, 11]];
  const final = hookNames.finalNorm();
  const whole = forward(model, ids, { cache: [final] });
  const below = forward(model, ids, { cache: [hookNames.residPost(1)], untilLayer: 2 });
  assert.equal(below.logits, undefined);
  const rest = forward(model, ids, { cache: [final], from: { layer: 2, x: below.activations[hookNames.residPost(1)] as tf.Tensor3D } });
  assert.deepEqual([...rest.logits!.dataSync()], [...whole.logits!.dataSync()]);
  assert.throws(() => forward(model, ids, { from: { layer: 2, x: tf.zeros([2, 4, model.config.dModel]) } }), /from\.x has shape \[2,4,\d+\], expected \[2, 5, \d+\]/);
  assert.throws(() => forward(model, ids, { untilLayer: 99 }), /blocks \[0, 99\) are not within the model's \d+/);
  tf.dispose([whole.logits, rest.logits, ...Object.values(whole.activations), ...Object.values(below.activations), ...Object.values(rest.activations)]);
});
