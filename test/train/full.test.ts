// Full fine-tuning (`train --adapter full`): one step equals AdamW computed by hand on every weight (HF Trainer's decay
// groups), --params trains only what it selects, resume is bit-exact, memory stays flat, and the HF folder it writes
// reloads (library and `forward --model`) with the in-memory model's logits and gives a model-diff direction.
// Axes: logits [seq, vocab] flattened; weights as in src/model/modules.ts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, tinyChatModelDir, tinyDataset, flatLogits } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { DenseLinear, disposeModel, modelTensors, type Model } from '../../src/model/modules.ts';
import { forward } from '../../src/model/transformer.ts';
import { weightNames } from '../../src/model/trainable.ts';
import { SafetensorsFile } from '../../src/model/safetensors.ts';
import { train, type TrainOptions } from '../../src/train/trainer.ts';
import { collate, readChatJsonl, tokenizeChat } from '../../src/train/data.ts';
import { nllSum, rowLogits } from '../../src/train/loss.ts';
import { AdamW, hfNoDecay } from '../../src/train/optim.ts';
import { readTrainingState } from '../../src/train/state-file.ts';
import { createAdapter } from '../../src/adapters/adapter.ts';
import { defaultTrainSpec } from '../../src/train/defaults.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { checkPayload } from '../../src/queue/jobs.ts';

let dir: string;
let tok: ChatTokenizer;
let data: string;
before(async () => {
  await useTestBackend();
  dir = tinyChatModelDir();
  tok = ChatTokenizer.load(dir);
  data = tinyDataset(12);
});

const out = () => join(mkdtempSync(join(tmpdir(), 'emlens-full-')), 'run');

function options(o: Partial<TrainOptions>): TrainOptions {
  return {
    data, out: out(), adapter: { kind: 'full' }, epochs: 1, lr: 1e-3, batch: 2, gradAccum: 2, warmup: 1, weightDecay: 0.1, maxGradNorm: 1,
    saveEvery: 1, keepCheckpoints: 0, seed: 3, resume: false, klWeight: 0, earlyStop: false, quiet: true, ...o,
  };
}

/** Host copies of every weight of a model, in modelTensors order. */
const hostWeights = (m: Model) => modelTensors(m.weights).map((t) => Float64Array.from(t.dataSync()));

test('one step of a full fine-tune equals AdamW by hand on every weight, with HF Trainer\'s decay groups', async () => {
  const base = loadModel(dir);
  const lr = 1e-2, wd = 0.1;
  // one example, one micro-batch: the trainer's step on the whole model, from its saved HF folder
  const one = join(mkdtempSync(join(tmpdir(), 'emlens-full-one-')), 'one.jsonl');
  writeFileSync(one, readFileSync(data, 'utf8').split('\n')[1] + '\n');
  const o = options({ data: one, batch: 1, gradAccum: 1, warmup: 0, lr, weightDecay: wd, maxGradNorm: 0, saveEvery: 0 });
  const r = await train(base, tok, o, dir);
  assert.equal(r.steps, 1);
  const tuned = loadModel(r.adapterDir);

  // by hand: the mean NLL of the assistant tokens, its gradient by tf.grads with respect to the base model's own
  // tensors (through the trainer's loss, so that gradients near AdamW's eps — where g / (|g| + eps) is steep — are
  // the same numbers; the loss itself is checked against a plain log-softmax), then torch.optim.AdamW's first step
  const ex = tokenizeChat(tok, readChatJsonl(one)[0].messages);
  const batch = collate([ex], 0);
  const rows = ex.target.map((t, p) => (t && p > 0 ? p : -1)).filter((p) => p > 0);
  const weights = modelTensors(base.weights);
  const meanNll = () => tf.div(nllSum(rowLogits(base, [], batch), batch.lossTargets), rows.length) as tf.Scalar;
  const plain = tf.tidy(() => {
    const logits = forward(base, [ex.ids]).logits!.reshape([ex.ids.length, -1]); // [seq, vocab]
    const logp = tf.logSoftmax(tf.gather(logits, rows.map((p) => p - 1))); // [M, vocab]
    return -tf.sum(tf.mul(logp, tf.oneHot(rows.map((p) => ex.ids[p]), logits.shape[1]!))).dataSync()[0] / rows.length;
  });
  assert.ok(Math.abs(tf.tidy(() => meanNll().dataSync()[0]) - plain) < 1e-5, 'the loss is the mean NLL of the assistant tokens');
  const grads = tf.grads(meanNll)(weights);
  // no decay: every bias and norm weight, found by structure (not by name)
  const noDecay = new Set<tf.Tensor>([base.weights.finalNorm]);
  for (const b of base.weights.blocks) {
    for (const t of [b.inputNorm, b.preMlpNorm, b.postAttnNorm, b.postMlpNorm, b.qNorm, b.kNorm]) if (t) noDecay.add(t);
    for (const lin of Object.values(b.linears)) if ((lin as DenseLinear).b) noDecay.add((lin as DenseLinear).b!);
  }
  assert.ok(noDecay.size > 10, 'the tiny model has biases and norms');
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const p0 = hostWeights(base), p1 = hostWeights(tuned);
  let worst = 0, moved = 0, decayed = 0;
  weights.forEach((w, i) => {
    const g = grads[i].dataSync();
    for (let j = 0; j < g.length; j++) {
      const m = (1 - b1) * g[j], v = (1 - b2) * g[j] * g[j];
      const mHat = m / (1 - b1), vHat = v / (1 - b2);
      const decay = noDecay.has(w) ? 1 : 1 - lr * wd;
      const expected = p0[i][j] * decay - (lr * mHat) / (Math.sqrt(vHat) + eps);
      worst = Math.max(worst, Math.abs(expected - p1[i][j]));
      if (p1[i][j] !== p0[i][j]) moved++;
    }
    if (!noDecay.has(w)) decayed += g.length;
  });
  assert.ok(worst <= 1e-6, `max |hand − trainer| = ${worst}`);
  const total = p0.reduce((n, p) => n + p.length, 0);
  assert.ok(moved > 0.9 * total, `every weight trained: ${moved} of ${total} values moved`);
  assert.ok(decayed > 0 && decayed < total);
  tf.dispose(grads);
  disposeModel(tuned);
  disposeModel(base);
});

test("HF Trainer's decay groups by name: biases and norms out, embeddings and projections in", () => {
  const base = loadModel(dir);
  const names = weightNames(base);
  const out = names.filter(hfNoDecay);
  assert.ok(out.includes('model.norm.weight') && out.includes('model.layers.0.input_layernorm.weight') && out.includes('model.layers.0.self_attn.q_proj.bias'));
  for (const n of ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.2.mlp.down_proj.weight', 'lm_head.weight']) assert.equal(hfNoDecay(n), false, n);
  for (const n of ['model.layers.1.self_attn.q_norm.weight', 'model.layers.1.pre_feedforward_layernorm.weight', 'gate.2.b']) assert.equal(hfNoDecay(n), true, n);
  // the adapters' own variables keep their groups (LoRA runs are unchanged)
  for (const n of ['lora.2.down_proj.A', 'lora.2.down_proj.B', 'gate.3.W', 'gate.3.U', 'steer.2']) assert.equal(hfNoDecay(n), false, n);
  disposeModel(base);
});

test('--params trains only the weights it selects; a selection of nothing or a bad regex is one clear error', async () => {
  const base = loadModel(dir);
  const r = await train(base, tok, options({ adapter: { kind: 'full', full: { params: 'self_attn' } }, saveEvery: 0 }), dir);
  const before = SafetensorsFile.open(join(dir, 'model.safetensors')), after = SafetensorsFile.open(join(r.adapterDir, 'model.safetensors'));
  for (const n of weightNames(base)) {
    const [x, y] = [before.readF32(n), after.readF32(n)];
    assert.equal(x.some((v, j) => v !== y[j]), /self_attn/.test(n), n);
  }
  before.close();
  after.close();
  await assert.rejects(() => train(base, tok, options({ adapter: { kind: 'full', full: { params: 'no_such_weight' } } }), dir), /options\.params no_such_weight: selects none of the model's \d+ weights \(HF names such as model\.layers\.0\.self_attn\.q_proj\.weight/);
  await assert.rejects(() => train(base, tok, options({ adapter: { kind: 'full', full: { params: 'mlp(' } } }), dir), /options\.params mlp\(: not a regular expression/);
  disposeModel(base);
});

test('resume is bit-exact (4 steps straight = 2 + --resume 2: the same model.safetensors), memory flat over steps', async () => {
  const base = loadModel(dir);
  const counts: number[] = [];
  const start = tf.memory().numTensors;
  const straight = options({ epochs: 2, saveEvery: 2, onStep: () => counts.push(tf.memory().numTensors) });
  const a = await train(base, tok, straight, dir);
  assert.equal(a.steps, 6);
  assert.equal(tf.memory().numTensors, start, 'the run frees its variables and moments');
  assert.ok(counts.every((c) => c === counts[0]), `tensors per step: ${counts.join(', ')}`);
  const cut = options({ epochs: 2, saveEvery: 2, maxSteps: 2 });
  assert.equal((await train(base, tok, cut, dir)).status, 'max-steps');
  const resumed = await train(base, tok, { ...cut, maxSteps: undefined, resume: true }, dir);
  assert.equal(resumed.status, 'complete');
  assert.ok(readFileSync(join(a.adapterDir, 'model.safetensors')).equals(readFileSync(join(resumed.adapterDir, 'model.safetensors'))));
  assert.ok(readFileSync(join(a.adapterDir, 'config.json')).equals(readFileSync(join(resumed.adapterDir, 'config.json'))));
  // a checkpoint holds every weight and its two AdamW moments
  assert.ok(existsSync(join(straight.out, 'checkpoints', 'step-4', 'adapter', 'model.safetensors')));
  disposeModel(base);
});

test('the HF folder reloads with the in-memory model\'s logits (library and `forward --model`), and model-diff reads it', async () => {
  const base = loadModel(dir);
  const o = options({ saveEvery: 3 });
  const r = await train(base, tok, o, dir);
  assert.equal(r.steps, 3);
  // the in-memory fine-tune: the base with the last checkpoint's exact variables
  const adapter = createAdapter(base, { kind: 'full' });
  const opt = new AdamW(adapter.variables());
  readTrainingState(join(o.out, 'checkpoints', 'step-3'), adapter.variables(), opt);
  const ids = [1, 85, 91, 266, 332, 201, 384, 306];
  const inMemory = flatLogits(adapter.attach(base).model, [ids]);
  const reloaded = loadModel(r.adapterDir);
  assert.deepEqual(Array.from(flatLogits(reloaded, [ids])), Array.from(inMemory));
  assert.notDeepEqual(Array.from(flatLogits(base, [ids])), Array.from(inMemory), 'the fine-tune changed the model');
  assert.ok(existsSync(join(r.adapterDir, 'tokenizer.json')), 'the base\'s tokenizer files are copied');
  adapter.dispose();
  opt.dispose();
  disposeModel(reloaded);
  disposeModel(base);

  const cli = (...args: string[]) => spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), ...args, '--backend', 'wasm'], { encoding: 'utf8', cwd: PACKAGE_ROOT });
  const fwd = cli('forward', '--model', r.adapterDir, '--ids', ids.join(','), '--json');
  assert.equal(fwd.status, 0, fwd.stderr);
  assert.deepEqual((JSON.parse(fwd.stdout).logits as number[][]).flat(), Array.from(inMemory));
  const dirFile = join(mkdtempSync(join(tmpdir(), 'emlens-full-diff-')), 'diff.safetensors');
  const diff = cli('extract', '--kind', 'model-diff', '--model', r.adapterDir, '--reference', dir, '--data', data, '--out', dirFile, '--json');
  assert.equal(diff.status, 0, diff.stderr);
  assert.ok(existsSync(dirFile));
});

test('defaults: a full fine-tune spec names no adapter modules; `train --adapter full` flags are checked', () => {
  const base = loadModel(dir);
  const spec = defaultTrainSpec(base, data, 'full');
  assert.deepEqual(spec.adapter, { kind: 'full' });
  assert.equal(spec.lr, 1e-5);
  // a study's full fine-tune goes through the job queue's schema too
  const ref = `artefact:${'a'.repeat(64)}`;
  const payload = { v: 1, kind: 'finetune', name: 'full', model: { dir: '/m', identity: 'e'.repeat(64) }, files: { [ref]: { kind: 'file', name: 'd.jsonl' } } };
  assert.equal(checkPayload('finetune', { ...payload, spec: { ...defaultTrainSpec(base, ref, 'full'), adapter: { kind: 'full', full: { params: 'layers\\.2\\.' } } } }).kind, 'finetune');
  assert.throws(() => checkPayload('finetune', { ...payload, spec: { ...defaultTrainSpec(base, ref, 'full'), adapter: { kind: 'full', full: { layers: [2] } } } }), /does not match its schema/);
  disposeModel(base);
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), 'train', '--data', data, '--out', out(), '--model', dir, '--backend', 'wasm', ...args], { encoding: 'utf8', cwd: PACKAGE_ROOT });
  const params = cli('--params', 'mlp');
  assert.equal(params.status, 2);
  assert.match(params.stderr, /--params selects the weights of a full fine-tune \(--adapter full\), not of --adapter lora/);
  const none = cli('--adapter', 'full', '--params', 'no_such_weight');
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--params no_such_weight: selects none of the model's \d+ weights/);
  const layers = cli('--adapter', 'full', '--layers', '2');
  assert.equal(layers.status, 2);
  assert.match(layers.stderr, /--layers: a full fine-tune selects weights with --params/);
  const help = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), 'train', '--help', '--adapter', 'full', '--model', dir], { encoding: 'utf8', cwd: PACKAGE_ROOT });
  assert.match(help.stdout.replace(/\s+/g, ' '), /--lr <lr> peak learning rate \(default: 0\.00001, from emlens \(a full SFT's usual rate\)\)/);
  assert.match(help.stdout.replace(/\s+/g, ' '), /A full fine-tune trains every weight/);
});
