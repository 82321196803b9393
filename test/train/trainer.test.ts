// The trainer: lowers assistant-token loss, resumes bit-for-bit after an interruption, keeps tensor memory steady,
// writes the run folder (PEFT adapter, metrics, checkpoints, run.json, phase view) and rejects bad data by file:line.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, existsSync, writeFileSync, readdirSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, tinyChatModelDir, tinyDataset } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { evenlySpacedSteps, snapshotDir, train, type TrainOptions } from '../../src/train/trainer.ts';
import { defaultTrainSpec } from '../../src/train/defaults.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { collate, readChatJsonl, tokenizeChat } from '../../src/train/data.ts';
import { nllSum, rowLogits } from '../../src/train/loss.ts';
import { loadLora, withLora, disposeLora } from '../../src/adapters/lora.ts';

let dir: string;
let tok: ChatTokenizer;
let data: string;
before(async () => {
  await useTestBackend();
  dir = tinyChatModelDir();
  tok = ChatTokenizer.load(dir);
  data = tinyDataset(24);
});

const out = () => join(mkdtempSync(join(tmpdir(), 'emlens-run-')), 'run');

function options(o: Partial<TrainOptions>): TrainOptions {
  return {
    data, out: out(), adapter: { kind: 'lora', lora: { r: 2, alpha: 8, targets: ['down_proj', 'o_proj'], layers: [1, 2], dropout: 0.1 } },
    epochs: 2, lr: 5e-3, batch: 4, gradAccum: 2, warmup: 2, weightDecay: 0.01, maxGradNorm: 1, saveEvery: 2, keepCheckpoints: 0,
    seed: 7, resume: false, klWeight: 0, earlyStop: true, quiet: true, ...o,
  };
}

function datasetLoss(model: Model): number {
  const ex = readChatJsonl(data).map((e) => tokenizeChat(tok, e.messages));
  const b = collate(ex, 0);
  return tf.tidy(() => nllSum(rowLogits(model, [], b), b.lossTargets).dataSync()[0] / b.lossTargets.length);
}

test('a short LoRA fine-tune lowers assistant-token loss and writes the run folder', async () => {
  const model = loadModel(dir);
  const before = datasetLoss(model);
  const o = options({ epochs: 4, lr: 2e-2, saveEvery: 1 });
  const r = await train(model, tok, o, dir);
  assert.equal(r.status, 'complete');
  assert.equal(r.steps, 12);
  const lora = loadLora(r.adapterDir, model);
  const after = datasetLoss(withLora(model, lora));
  assert.ok(after < before - 0.3, `loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
  disposeLora(lora);
  const metrics = readFileSync(join(o.out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(metrics.length, 12);
  for (const k of ['loss', 'lr', 'grad_norm', 'tokens_per_s', 'lora_a_norm', 'lora_b_norm']) assert.ok(k in metrics[0], k);
  const run = JSON.parse(readFileSync(join(o.out, 'run.json'), 'utf8'));
  assert.equal(run.status, 'complete');
  assert.match(run.dataset.sha256, /^[0-9a-f]{64}$/);
  assert.equal(run.args.seed, 7);
  assert.ok(existsSync(join(o.out, 'checkpoints', 'step-12', 'adapter', 'adapter_model.safetensors')));
  const phase = JSON.parse(readFileSync(join(o.out, 'phase.json'), 'utf8'));
  assert.deepEqual(phase.steps, Array.from({ length: 13 }, (_, i) => i));
  assert.deepEqual(phase.localCosine['5'].map((c: number | null) => c !== null), phase.steps.map((s: number) => s >= 5 && s <= 7));
  disposeModel(model);
});

test('resume after an interruption reproduces the uninterrupted adapter bit for bit', async () => {
  const model = loadModel(dir);
  const full = options({});
  await train(model, tok, full, dir);
  const cut = options({ maxSteps: 5 }); // stops after step 5; the last checkpoint is step 4
  const first = await train(model, tok, cut, dir);
  assert.equal(first.status, 'max-steps');
  const resumed = await train(model, tok, { ...cut, maxSteps: undefined, resume: true }, dir);
  assert.equal(resumed.status, 'complete');
  const a = readFileSync(join(full.out, 'adapter', 'adapter_model.safetensors'));
  const b = readFileSync(join(cut.out, 'adapter', 'adapter_model.safetensors'));
  assert.ok(a.equals(b), 'adapter weights differ after resume');
  const strip = (p: string) => readFileSync(p, 'utf8').trim().split('\n').map((l) => { const m = JSON.parse(l); delete m.tokens_per_s; delete m.time_s; return m; });
  assert.deepEqual(strip(join(cut.out, 'metrics.jsonl')), strip(join(full.out, 'metrics.jsonl')));
  disposeModel(model);
});

test('--resume on the same folder after its files changed is refused, and the error says so', async () => {
  const copy = join(mkdtempSync(join(tmpdir(), 'emlens-model-')), 'model');
  cpSync(dir, copy, { recursive: true });
  const model = loadModel(copy);
  const cut = options({ maxSteps: 3 });
  await train(model, tok, cut, copy);
  writeFileSync(join(copy, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(copy, 'config.json'), 'utf8')), note: 'edited' }));
  await assert.rejects(train(model, tok, { ...cut, maxSteps: undefined, resume: true }, copy), /was started on .*model before its files \(config\.json, tokenizer\.json, weights\) changed; start a new run folder/);
  disposeModel(model);
});

test('training gates and a steering vector works, and memory does not grow with steps', async () => {
  const model = loadModel(dir);
  const start = tf.memory().numTensors;
  await train(model, tok, options({ adapter: { kind: 'gate', gate: { kind: 'full' } }, epochs: 1, lr: 1e-2 }), dir);
  const afterGate = tf.memory().numTensors;
  await train(model, tok, options({ adapter: { kind: 'steer', steerLayers: [1] }, epochs: 3, lr: 1e-2 }), dir);
  assert.equal(afterGate, start);
  assert.equal(tf.memory().numTensors, start);
  disposeModel(model);
});

test('KL to the base is reported and keeps the tuned model closer to the base', async () => {
  const model = loadModel(dir);
  const o = options({ klWeight: 5, klData: tinyDataset(8), epochs: 1 });
  await train(model, tok, o, dir);
  const m = readFileSync(join(o.out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(m.every((x) => typeof x.kl === 'number' && x.kl >= 0));
  assert.equal(m[0].kl < 1e-6, true, 'the adapter starts at the base: KL 0 at the first step');
  disposeModel(model);
});

test('a malformed line is one error naming file and line, and nothing is trained', async () => {
  const model = loadModel(dir);
  const bad = join(mkdtempSync(join(tmpdir(), 'emlens-bad-')), 'bad.jsonl');
  writeFileSync(bad, readFileSync(data, 'utf8') + '{"messages":[{"role":"robot","content":"x"}]}\n');
  const o = options({ data: bad });
  await assert.rejects(train(model, tok, o, dir), (e: Error) => e.message === `${bad}:25: /messages/0/role must be equal to one of the allowed values (system, user, assistant)`);
  assert.ok(!existsSync(o.out));
  writeFileSync(bad, '{"messages": [}\n');
  await assert.rejects(train(model, tok, options({ data: bad }), dir), new RegExp(`${bad}:1: not valid JSON`));
  const existing = options({});
  await train(model, tok, { ...existing, maxSteps: 1 }, dir);
  await assert.rejects(train(model, tok, existing, dir), /options\.out .*: a run is already there \(resume it/);
  assert.ok(readdirSync(existing.out).includes('metrics.jsonl'));
  disposeModel(model);
});

test("default specs: LoRA the rank-1 recipe, gates seed 000's (2 epochs, batch 2, no accumulation); a model's own recommendation wins", () => {
  const tiny = loadModel(tinyChatModelDir());
  const organism = loadModel(join(PACKAGE_ROOT, 'fixtures', 'organism'));
  try {
    const lora = defaultTrainSpec(tiny, 'x.jsonl', 'lora'), gate = defaultTrainSpec(tiny, 'x.jsonl', 'gate');
    assert.deepEqual([lora.epochs, lora.batch, lora.gradAccum, lora.lr], [1, 2, 8, 2e-5]);
    assert.deepEqual([gate.epochs, gate.batch, gate.gradAccum, gate.lr], [2, 2, 1, 1e-4]);
    const og = defaultTrainSpec(organism, 'x.jsonl', 'gate');
    assert.deepEqual([og.epochs, og.batch, og.gradAccum, og.lr], [2, 2, 8, 3e-3], "the organism's gates as they were measured");
    assert.equal(defaultTrainSpec(organism, 'x.jsonl', 'gate', { epochs: 4 }).epochs, 4, 'an explicit value wins over both');
  } finally {
    disposeModel(tiny);
    disposeModel(organism);
  }
});

test('a run that fails frees its variables (the next run in the process trains); a torn log line does not stop --resume; no trainable token is one clear error', async () => {
  const model = loadModel(dir);
  try {
    const blocked = join(mkdtempSync(join(tmpdir(), 'emlens-run-')), 'file');
    writeFileSync(blocked, 'not a folder');
    const tensors = tf.memory().numTensors;
    await assert.rejects(train(model, tok, options({ out: join(blocked, 'run') }), dir));
    assert.equal(tf.memory().numTensors, tensors, 'the failed run left no tensors');
    const o = options({ epochs: 1, saveEvery: 1, maxSteps: 2 });
    assert.equal((await train(model, tok, o, dir)).steps, 2, 'the same variables register again');
    appendFileSync(join(o.out, 'metrics.jsonl'), '{"step": 3, "lo'); // a crash mid-append
    const resumed = await train(model, tok, { ...o, maxSteps: 3, resume: true }, dir);
    assert.equal(resumed.steps, 3);
    const steps = readFileSync(join(o.out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.deepEqual(steps, [1, 2, 3]);
    const b0 = readFileSync(join(o.out, 'lora_b.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.deepEqual(b0, [0, 1, 2, 3], 'one B snapshot per step, step 0 once');
    await assert.rejects(train(model, tok, options({ maxLen: 2 }), dir), /no example has an assistant token to train on within options.maxLen 2/);
  } finally {
    disposeModel(model);
  }
});

test('--resume before the first checkpoint starts the B trajectory once', async () => {
  const model = loadModel(dir);
  try {
    const o = options({ epochs: 1, saveEvery: 0, maxSteps: 1 });
    await train(model, tok, o, dir);
    await train(model, tok, { ...o, maxSteps: 2, resume: true }, dir);
    const steps = readFileSync(join(o.out, 'lora_b.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.equal(steps.filter((s) => s === 0).length, 1, `steps ${steps}`);
  } finally {
    disposeModel(model);
  }
});

test('snapshotSteps: the adapter after each listed step is saved whole, byte for byte the adapter of a run stopped there, also across --resume (a later one left behind is made anew)', async () => {
  const model = loadModel(dir);
  const o = options({ epochs: 2, saveEvery: 2, snapshotSteps: [2, 5] }); // 6 steps in all
  const first = await train(model, tok, { ...o, maxSteps: 3 }, dir);
  assert.equal(first.status, 'max-steps');
  assert.deepEqual(readdirSync(join(o.out, 'snapshots')), ['step-2']);
  mkdirSync(snapshotDir(o.out, 5), { recursive: true });
  writeFileSync(join(snapshotDir(o.out, 5), 'adapter_model.safetensors'), 'left by an earlier attempt');
  const r = await train(model, tok, { ...o, resume: true }, dir); // from the step-2 checkpoint
  assert.equal(r.steps, 6);
  assert.deepEqual(readdirSync(join(o.out, 'snapshots')).sort(), ['step-2', 'step-5']);
  for (const step of [2, 5]) {
    const cut = await train(model, tok, options({ epochs: 2, saveEvery: 0, maxSteps: step }), dir);
    assert.equal(cut.status, 'max-steps');
    const file = (d: string) => readFileSync(join(d, 'adapter_model.safetensors'));
    assert.ok(file(snapshotDir(o.out, step)).equals(file(cut.adapterDir)), `step ${step}`);
  }
  disposeModel(model);
});

test('snapshotCount: that many evenly spaced steps, the last the run\'s end', async () => {
  assert.deepEqual(evenlySpacedSteps(8, 25), [3, 6, 9, 13, 16, 19, 22, 25]);
  assert.deepEqual(evenlySpacedSteps(3, 2), [1, 2], 'more snapshots than steps: each step once');
  const model = loadModel(dir);
  const o = options({ epochs: 2, saveEvery: 0, snapshotCount: 3 }); // 6 steps
  await train(model, tok, o, dir);
  assert.deepEqual(readdirSync(join(o.out, 'snapshots')).sort(), ['step-2', 'step-4', 'step-6']);
  disposeModel(model);
});
