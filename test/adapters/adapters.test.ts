// Adapters: identity at init (exact) for LoRA, gates (full/diag/lowrank) and steering vectors; gate scale 0 is the
// base; PEFT on-disk format (names, config keys) and exact save/load; merge into base weights.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, REF_DIR, flatLogits } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { createLora, loadLora, saveLora, withLora, mergeLora, disposeLora, peftTensorName } from '../../src/adapters/lora.ts';
import { createGates, gateHooks, saveGates, loadGates, disposeGates, gateValues } from '../../src/adapters/gates.ts';
import { createSteeringVectors, steeringVectorHooks, disposeSteeringVectors } from '../../src/adapters/steering-vector.ts';
import { SafetensorsFile, writeSafetensors as writeSafetensorsFile } from '../../src/model/safetensors.ts';
import { isTargeted, peftConfigJson, readLoraConfig } from '../../src/adapters/peft-config.ts';
import { isBias } from '../../src/train/optim.ts';
import { tfSeed } from '../../src/util/rng.ts';
import { saveModel } from '../../src/model/save.ts';
import type { Hook } from '../../src/model/hooks.ts';

let model: Model;
const ids = [[1, 85, 91, 266, 332, 201, 384, 306]];
let baseLogits: Float32Array;
const tmp = () => mkdtempSync(join(tmpdir(), 'emlens-ad-'));

const logits = (m: Model, hooks: Hook[] = []) => flatLogits(m, ids, hooks);

before(async () => {
  await useTestBackend();
  model = loadModel(join(REF_DIR, 'qwen2'));
  baseLogits = logits(model);
});
after(() => disposeModel(model));

test('every adapter kind equals the base exactly at initialisation', () => {
  const lora = createLora(model, { r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'], seed: 3 });
  assert.deepEqual(logits(withLora(model, lora)), baseLogits);
  disposeLora(lora);
  for (const kind of ['full', 'diag', 'lowrank'] as const) {
    const g = createGates(model, { kind, rank: 2, seed: 1 });
    assert.deepEqual(logits(model, gateHooks(g, 1)), baseLogits, `${kind} gates`);
    disposeGates(g);
  }
  const s = createSteeringVectors(model, [1]);
  assert.deepEqual(logits(model, steeringVectorHooks(s)), baseLogits);
  disposeSteeringVectors(s);
});

test('gate scale: 0 is the base, 1 multiplies by g, −1 by 2 − g', () => {
  const g = createGates(model, { kind: 'full', layers: [0, 2] });
  for (const layer of g.layers.values()) {
    layer.W = tf.randomNormal(layer.W!.shape, 0, 0.05, 'float32', 1) as tf.Tensor2D;
    layer.b = tf.randomNormal(layer.b.shape, 0, 0.5, 'float32', 2) as tf.Tensor1D;
  }
  assert.deepEqual(logits(model, gateHooks(g, 0)), baseLogits);
  assert.notDeepEqual(logits(model, gateHooks(g, 1)), baseLogits);
  // λ = −1 equals an explicit 2 − g at attn.hook_z
  const manual: Hook[] = [];
  for (const [l, layer] of g.layers) {
    let h: tf.Tensor | undefined;
    manual.push({ name: `blocks.${l}.hook_resid_pre`, fn: (x) => { h = x; } });
    manual.push({ name: `blocks.${l}.attn.hook_z`, fn: (z) => tf.mul(z, tf.sub(2, gateValues(layer, h!))) });
  }
  const a = logits(model, gateHooks(g, -1)), b = logits(model, manual);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6));
  disposeGates(g);
});

test('a gate reads the block input after every resid_pre hook, whatever order the hooks come in', () => {
  const g = createGates(model, { kind: 'full', layers: [1] });
  const layer = g.layers.get(1)!;
  (layer.W as unknown as tf.Variable).assign(tf.randomNormal(layer.W!.shape, 0, 0.2, 'float32', 5));
  // an edit of resid_pre(1) given after the gate's hooks: the block, and so the gate, must read the edited value
  const edit: Hook = { name: 'blocks.1.hook_resid_pre', fn: (x) => tf.mul(x, -3) };
  const editFirst = logits(model, [edit, ...gateHooks(g, 1)]);
  assert.notDeepEqual(editFirst, logits(model, [edit]));
  assert.deepEqual(logits(model, [...gateHooks(g, 1), edit]), editFirst);
  disposeGates(g);
});

test('gates save and load exactly', () => {
  const g = createGates(model, { kind: 'lowrank', rank: 2, layers: [1], seed: 4 });
  const layer = g.layers.get(1)!;
  (layer.U as unknown as tf.Variable).assign(tf.randomNormal(layer.U!.shape, 0, 0.1, 'float32', 9));
  const dir = tmp();
  saveGates(g, dir);
  const back = loadGates(dir, model);
  assert.deepEqual(logits(model, gateHooks(back, 1)), logits(model, gateHooks(g, 1)));
  assert.deepEqual(logits(model, gateHooks(back, -1)), logits(model, gateHooks(g, -1)));
  disposeGates(g);
  disposeGates(back);
});

test('LoRA saves in PEFT format (names and config keys as PEFT writes them) and reloads exactly', () => {
  const lora = createLora(model, { r: 2, alpha: 16, rslora: true, targets: ['down_proj', 'o_proj'], layers: [0, 2], seed: 5 });
  for (const m of lora.modules.values()) (m.B as unknown as tf.Variable).assign(tf.randomNormal(m.B.shape, 0, 0.3, 'float32', tfSeed(m.layer)));
  const dir = tmp();
  saveLora(lora, dir, model);
  const peftRef = JSON.parse(readFileSync(join(REF_DIR, 'qwen2-lora-r1', 'adapter_config.json'), 'utf8'));
  const ours = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(peftRef).sort());
  assert.equal(ours.use_rslora, true);
  assert.deepEqual(ours.layers_to_transform, [0, 2]);
  const f = SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
  assert.deepEqual([...f.tensors.keys()].sort(), [0, 2].flatMap((l) => ['down_proj', 'o_proj'].flatMap((n) => [peftTensorName(l, n as 'down_proj', 'A'), peftTensorName(l, n as 'down_proj', 'B')])).sort());
  const refNames = [...SafetensorsFile.open(join(REF_DIR, 'qwen2-lora-r1', 'adapter_model.safetensors')).tensors.keys()];
  assert.ok(refNames.every((n) => /^base_model\.model\.model\.layers\.\d+\.mlp\.down_proj\.lora_[AB]\.weight$/.test(n)));
  assert.deepEqual(f.info(peftTensorName(0, 'down_proj', 'A')).shape, [2, model.config.dMlp]);
  assert.deepEqual(f.info(peftTensorName(0, 'down_proj', 'B')).shape, [model.config.dModel, 2]);
  f.close();
  const back = loadLora(dir, model);
  const trained = logits(withLora(model, lora));
  assert.notDeepEqual(trained, baseLogits);
  assert.deepEqual(logits(withLora(model, back)), trained);
  // merged into the base weights: same function; saved as an HF checkpoint it loads back the same
  const merged = mergeLora(model, lora);
  const m1 = logits(merged);
  m1.forEach((v, i) => assert.ok(Math.abs(v - trained[i]) < 1e-5));
  const ckpt = tmp();
  saveModel(merged, join(ckpt, 'merged'));
  assert.ok(readdirSync(join(ckpt, 'merged')).includes('model.safetensors'));
  const reloaded = loadModel(join(ckpt, 'merged'));
  assert.deepEqual(logits(reloaded), m1);
  disposeModel(reloaded);
  for (const m of lora.modules.values()) for (const t of merged.weights.blocks[m.layer].linears[m.module].ownTensors()) t.dispose();
  disposeLora(lora);
  disposeLora(back);
});

test('saving the unmodified model round-trips its logits exactly', () => {
  const dir = join(tmp(), 'copy');
  saveModel(model, dir);
  const copy = loadModel(dir);
  assert.deepEqual(logits(copy), baseLogits);
  disposeModel(copy);
});

test('adapter_config.json: exclude_modules is honoured, weight-adding features are refused, a round trip keeps keys we do not model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-peftcfg-'));
  const write = (raw: Record<string, unknown>) => writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 1, lora_alpha: 2, target_modules: ['down_proj'], ...raw }));
  write({ exclude_modules: ['layers.1.mlp.down_proj'], layers_pattern: 'layers', task_type: 'CAUSAL_LM', revision: 'abc' });
  const cfg = readLoraConfig(dir);
  assert.equal(isTargeted(cfg, 0, 'down_proj'), true);
  assert.equal(isTargeted(cfg, 1, 'down_proj'), false, 'excluded');
  const out = peftConfigJson(cfg, { config: { raw: {}, modelType: 'qwen2' } });
  assert.deepEqual([out.exclude_modules, out.layers_pattern, out.revision, out.r], [['layers.1.mlp.down_proj'], 'layers', 'abc', 1]);
  write({ exclude_modules: '.*layers\\.0\\..*' });
  assert.equal(isTargeted(readLoraConfig(dir), 0, 'down_proj'), false, 'a regular expression, fully matched');
  for (const [k, v] of [['lora_bias', true], ['trainable_token_indices', [5]], ['layer_replication', [[0, 2]]]] as const) {
    write({ [k]: v });
    assert.throws(() => readLoraConfig(dir), new RegExp(`${k} .* is not supported`));
  }
  write({ target_modules: '(?<=x' });
  assert.throws(() => readLoraConfig(dir), /target_modules "\(\?<=x" is not a regular expression/);
});

test('weight decay leaves biases alone (HF Trainer groups): gate b, not LoRA B or steering vectors', () => {
  assert.equal(isBias('gate.3.b'), true);
  for (const n of ['gate.3.W', 'gate.3.U', 'lora.2.down_proj.B', 'lora.2.down_proj.A', 'steer.2']) assert.equal(isBias(n), false, n);
});

test("a multimodal Gemma 3's LoRA is named on its language model's layers, as PEFT names it; another tower's tensors are refused", () => {
  // the reference Gemma 3 text model, renamed and wrapped as Gemma3ForConditionalGeneration stores it
  const dir = mkdtempSync(join(tmpdir(), 'emlens-mm-'));
  const text = JSON.parse(readFileSync(join(REF_DIR, 'gemma3', 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Gemma3ForConditionalGeneration'], model_type: 'gemma3', text_config: text }));
  const src = SafetensorsFile.open(join(REF_DIR, 'gemma3', 'model.safetensors'));
  const renamed: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, info] of src.tensors) renamed[name.replace(/^model\./, 'model.language_model.')] = { dtype: 'F32', shape: info.shape, data: src.readF32(name) };
  src.close();
  writeSafetensorsFile(join(dir, 'model.safetensors'), renamed);
  const mm = loadModel(dir);
  try {
    assert.equal(mm.weightPrefix, 'model.language_model.');
    const lora = createLora(mm, { r: 1, alpha: 2, targets: ['down_proj'], layers: [1] });
    const out = mkdtempSync(join(tmpdir(), 'emlens-mm-lora-'));
    saveLora(lora, out, mm);
    disposeLora(lora);
    const names = [...SafetensorsFile.open(join(out, 'adapter_model.safetensors')).tensors.keys()];
    assert.deepEqual(names.sort(), ['base_model.model.model.language_model.layers.1.mlp.down_proj.lora_A.weight', 'base_model.model.model.language_model.layers.1.mlp.down_proj.lora_B.weight']);
    disposeLora(loadLora(out, mm));
    // a vision encoder's "layers.1" is not the decoder's
    const st = SafetensorsFile.open(join(out, 'adapter_model.safetensors'));
    const tower: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const [name, info] of st.tensors) tower[name.replace('model.language_model.', 'model.vision_tower.vision_model.encoder.')] = { dtype: 'F32', shape: info.shape, data: st.readF32(name) };
    st.close();
    writeSafetensorsFile(join(out, 'adapter_model.safetensors'), tower);
    assert.throws(() => loadLora(out, mm), /is not on this model's decoder layers \(model\.language_model\.layers\.N\)/);
  } finally {
    disposeModel(mm);
  }
});
