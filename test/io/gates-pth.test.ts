// Alignment Gating's released gates (gating_params.pth: per-layer gate_proj_myself weight [C, hidden] and bias) load
// as emlens full gates: the same logits as emlens gates with W = weightᵀ, b = bias; wrong shapes and layers refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { useTestBackend, REF_DIR, flatLogits, tensorCount } from '../helpers.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { createGates, disposeGates, gateHooks, loadGates } from '../../src/adapters/gates.ts';
import { readTensorFile } from '../../src/io/tensor-file.ts';
import { UserError } from '../../src/util/log.ts';
import { writeSafetensors } from '../../src/model/safetensors.ts';
import * as tf from '@tensorflow/tfjs';

const FIX = join(PACKAGE_ROOT, 'fixtures', 'interop');
const ids = [[1, 85, 91, 266, 332, 201, 384, 306]];
let model: Model;

before(async () => {
  await useTestBackend();
  model = loadModel(join(REF_DIR, 'qwen2'));
});
after(() => disposeModel(model));

test('gating_params.pth gives the logits of the same gates in emlens format, and of gates made here with its W, b', () => {
  const n0 = tensorCount();
  const pth = loadGates(join(FIX, 'gating_params.pth'), model);
  const twin = loadGates(join(FIX, 'gates-emlens'), model);
  assert.equal(pth.kind, 'full');
  assert.deepEqual([...pth.layers.keys()], [0, 1, 2]);
  const base = flatLogits(model, ids);
  for (const scale of [1, -1]) {
    const a = flatLogits(model, ids, gateHooks(pth, scale));
    assert.deepEqual(a, flatLogits(model, ids, gateHooks(twin, scale)), `scale ${scale}`);
    assert.notDeepEqual(a, base, 'the gates change the logits');
  }
  // emlens's own (trainable) gates, given the file's W = weightᵀ and b
  const made = createGates(model, { kind: 'full' });
  const state = new Map(readTensorFile(join(FIX, 'gating_params.pth')).entries.map((e) => [e.name, e.array]));
  for (const [l, g] of made.layers) {
    const w = state.get(`model.layers.${l}.self_attn.gate_proj_myself.weight`)!;
    const W = new Float32Array(64 * 64);
    for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) W[i * 64 + j] = w.data[j * 64 + i]; // [hidden, C] = weightᵀ
    tf.tidy(() => {
      (g.W as tf.Variable).assign(tf.tensor2d(W, [64, 64]));
      (g.b as tf.Variable).assign(tf.tensor1d(state.get(`model.layers.${l}.self_attn.gate_proj_myself.bias`)!.data));
    });
  }
  assert.deepEqual(flatLogits(model, ids, gateHooks(made, 1)), flatLogits(model, ids, gateHooks(pth, 1)));
  for (const g of [pth, twin, made]) disposeGates(g);
  assert.equal(tensorCount(), n0, 'no tensor left behind');
});

test('a gate state dict that does not fit the model is one error naming the file and the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-gates-'));
  const wrong = join(dir, 'wrong.safetensors');
  stateDict(wrong, { 'model.layers.0.self_attn.gate_proj_myself.weight': [32, 64], 'model.layers.0.self_attn.gate_proj_myself.bias': [32] });
  assert.throws(() => loadGates(wrong, model), (e: Error) => e instanceof UserError && /wrong\.safetensors: layers\.0\.self_attn\.gate_proj_myself\.weight is \[32,64\], the model needs \[64, 64\]/.test(e.message));
  const deep = join(dir, 'deep.safetensors');
  stateDict(deep, { 'model.layers.7.self_attn.gate_proj_myself.weight': [64, 64], 'model.layers.7.self_attn.gate_proj_myself.bias': [64] });
  assert.throws(() => loadGates(deep, model), /deep\.safetensors: a gate at layer 7, the model has layers 0\.\.2/);
  const none = join(dir, 'none.safetensors');
  stateDict(none, { 'something.else': [4] });
  assert.throws(() => loadGates(none, model), /none\.safetensors: no gate_proj_myself tensors in it/);
  assert.throws(() => loadGates(join(FIX, 'bad_object.pt'), model), /bad_object\.pt: the pickle refers to datetime\.date/);
});

/** A state dict with these keys (zeros), as a .safetensors: the gate loader reads any tensor file. */
function stateDict(path: string, shapes: Record<string, number[]>): void {
  writeSafetensors(path, Object.fromEntries(Object.entries(shapes).map(([k, shape]) => [k, { dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, x) => a * x, 1)) }])));
}
