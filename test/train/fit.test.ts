// fit, the trainer's loop without its run folder: writes no file, reports each optimizer step, stops on an abort,
// keeps tensor memory steady and trains the very weights train() does with the same settings (AdamW's ε too). No tensor axes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, tinyChatModelDir, tinyDataset } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { train, type TrainOptions } from '../../src/train/trainer.ts';
import { fit, type FitOptions, type StepMetrics } from '../../src/train/fit.ts';
import { AdamW } from '../../src/train/optim.ts';
import { readChatJsonl, type TrainMessage } from '../../src/train/data.ts';
import type { AdapterSpec } from '../../src/adapters/adapter.ts';
import { EmlensError } from '../../src/util/errors.ts';

let dir: string;
let tok: ChatTokenizer;
let data: string;
let model: Model;
let examples: { messages: TrainMessage[] }[];
before(async () => {
  await useTestBackend();
  dir = tinyChatModelDir();
  tok = ChatTokenizer.load(dir);
  data = tinyDataset(24);
  examples = readChatJsonl(data).map((e) => ({ messages: e.messages }));
});

const spec: AdapterSpec = { kind: 'lora', lora: { r: 2, alpha: 8, targets: ['down_proj', 'o_proj'], layers: [1, 2], dropout: 0.1 } };
const settings: FitOptions = { epochs: 2, lr: 5e-3, batch: 4, gradAccum: 2, warmup: 2, weightDecay: 0.01, maxGradNorm: 1, seed: 7, klWeight: 0, earlyStop: true };

test('fit writes no file, calls onStep once per optimizer step, and leaves no tensor behind', async () => {
  model = loadModel(dir);
  const cwd = process.cwd();
  const here = mkdtempSync(join(tmpdir(), 'emlens-fit-cwd-'));
  const start = tf.memory().numTensors;
  const steps: StepMetrics[] = [];
  process.chdir(here);
  try {
    const r = await fit(model, tok, spec, examples, settings, { onStep: (m) => steps.push(m) });
    assert.equal(r.status, 'complete');
    assert.equal(r.steps, 6); // 24 examples / batch 4 / accumulation 2 = 3 steps an epoch, 2 epochs
    assert.equal(r.totalSteps, 6);
    assert.deepEqual(steps.map((m) => m.step), [1, 2, 3, 4, 5, 6]);
    for (const m of steps) for (const k of ['loss', 'lr', 'grad_norm', 'target_tokens', 'lora_a_norm', 'lora_b_norm']) assert.ok(Number.isFinite(m[k as keyof StepMetrics]), k);
    assert.equal(r.finalLoss, steps[5].loss);
    r.adapter.dispose();
  } finally {
    process.chdir(cwd);
  }
  assert.deepEqual(readdirSync(here), [], 'fit wrote into the working folder');
  assert.equal(tf.memory().numTensors, start, 'tensors left after fit and the adapter disposed');
});

test('an aborted signal stops fit after the current step', async () => {
  const start = tf.memory().numTensors;
  const stop = new AbortController();
  const seen: number[] = [];
  const r = await fit(model, tok, spec, examples, settings, {
    signal: stop.signal,
    onStep: (m) => {
      seen.push(m.step);
      if (m.step === 2) stop.abort();
    },
  });
  assert.equal(r.status, 'interrupted');
  assert.equal(r.steps, 2);
  assert.deepEqual(seen, [1, 2]);
  assert.deepEqual(r.state, { ...r.state, step: 2, epoch: 0, group: 2 });
  r.adapter.dispose();
  assert.equal(tf.memory().numTensors, start);
});

test("fit's trained weights equal train()'s for the same settings, bit for bit", async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'emlens-run-')), 'run');
  const o: TrainOptions = { ...settings, data, out, adapter: spec, saveEvery: 2, keepCheckpoints: 0, resume: false, quiet: true };
  const t = await train(model, tok, o, dir);
  const start = tf.memory().numTensors;
  const f = await fit(model, tok, spec, examples, settings);
  assert.equal(f.steps, t.steps);
  assert.equal(f.finalLoss, t.finalLoss);
  const saved = mkdtempSync(join(tmpdir(), 'emlens-fit-adapter-'));
  f.adapter.save(saved, model); // the test writes it, to compare the bytes
  assert.ok(readFileSync(join(saved, 'adapter_model.safetensors')).equals(readFileSync(join(t.adapterDir, 'adapter_model.safetensors'))), 'the adapters differ');
  f.adapter.dispose();
  assert.equal(tf.memory().numTensors, start);
});

test("AdamW's ε: far above √v̂ a step is lr/ε times the gradient; train() and fit() take adamEps alike, and run.json records it", async () => {
  const p = tf.variable(tf.tensor1d([1, -2, 0.5]), true, 'p');
  const opt = new AdamW([p], { eps: 10, weightDecay: 0 });
  const g = tf.tensor1d([0.3, -0.01, 0.002]); // [3]
  opt.apply(new Map([['p', g]]), 0.5);
  // first step: m̂ = g, √v̂ = |g|, so p ← p − lr · g / (|g| + ε)
  const want = [1 - (0.5 * 0.3) / (0.3 + 10), -2 + (0.5 * 0.01) / (0.01 + 10), 0.5 - (0.5 * 0.002) / (0.002 + 10)];
  (p.dataSync() as Float32Array).forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `${x} vs ${want[i]}`));
  opt.dispose();
  tf.dispose([p, g]);

  const o = { ...settings, epochs: 1, adamEps: 10 };
  const out = join(mkdtempSync(join(tmpdir(), 'emlens-run-')), 'run');
  const t = await train(model, tok, { ...o, data, out, adapter: spec, saveEvery: 0, keepCheckpoints: 0, resume: false, quiet: true }, dir);
  assert.equal(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).args.adamEps, 10);
  const start = tf.memory().numTensors;
  const fitted = async (options: FitOptions) => { // the adapter's bytes (one fit alive at a time: same variable names)
    const { adapter } = await fit(model, tok, spec, examples, options);
    const d = mkdtempSync(join(tmpdir(), 'emlens-fit-adapter-'));
    adapter.save(d, model);
    adapter.dispose();
    return readFileSync(join(d, 'adapter_model.safetensors'));
  };
  const withEps = await fitted(o);
  assert.ok(withEps.equals(readFileSync(join(t.adapterDir, 'adapter_model.safetensors'))), 'train() and fit() differ');
  assert.ok(!withEps.equals(await fitted({ ...o, adamEps: undefined })), 'ε 10 trains other weights than ε 1e-8');
  assert.equal(tf.memory().numTensors, start);
});

test('bad examples are an EmlensError naming the parameter', async () => {
  const start = tf.memory().numTensors;
  await assert.rejects(fit(model, tok, spec, [], settings), (e: unknown) => e instanceof EmlensError && e.param === 'examples');
  await assert.rejects(fit(model, tok, spec, [{ messages: [{ role: 'user', content: 'hi' }] }], settings), (e: unknown) => e instanceof EmlensError && e.param === 'examples' && /no example has an assistant token/.test(e.message));
  await assert.rejects(fit(model, tok, spec, examples, { ...settings, klWeight: 0.5 }), (e: unknown) => e instanceof EmlensError && e.param === 'options.klExamples');
  assert.equal(tf.memory().numTensors, start);
  disposeModel(model);
});
