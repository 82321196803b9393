// KV-cached batched generation: equals uncached greedy decoding, batched equals unbatched, seeds repeat,
// steering reaches generated tokens, and no tensor is left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { useTestBackend, REF_DIR } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { forward } from '../../src/model/transformer.ts';
import { generate, sample } from '../../src/model/generate.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { steeringHook } from '../../src/interventions/steer.ts';
import type { Hook } from '../../src/model/hooks.ts';
import { Rng } from '../../src/util/rng.ts';

let model: Model;
before(async () => {
  await useTestBackend();
  model = loadModel(join(REF_DIR, 'qwen2'));
});
after(() => disposeModel(model));

/** Checks each generated token is the argmax of an uncached forward over prompt + tokens so far (ties within 1e-4 allowed). */
function assertGreedyConsistent(prompt: number[], tokens: number[], hooks: Hook[] = []): void {
  const seq = [...prompt, ...tokens];
  const r = forward(model, [seq], { hooks });
  const logits = r.logits!.arraySync()[0];
  r.logits!.dispose();
  tokens.forEach((tok, i) => {
    const row = logits[prompt.length - 1 + i];
    const best = Math.max(...row);
    assert.ok(best - row[tok] < 1e-4, `step ${i}: token ${tok} is ${best - row[tok]} below the argmax`);
  });
}

test('cached greedy generation equals uncached greedy decoding', () => {
  const prompt = [1, 85, 91, 266, 332];
  const g = generate(model, [prompt], { maxNewTokens: 12, temperature: 0 });
  assert.equal(g.tokens[0].length, 12);
  assertGreedyConsistent(prompt, g.tokens[0]);
});

test('left-padded batches generate what each prompt generates alone', () => {
  const prompts = [[1, 85, 91, 266, 332, 201, 384], [7, 8], [300, 301, 302, 303]];
  const batched = generate(model, prompts, { maxNewTokens: 8, temperature: 0 });
  prompts.forEach((p, i) => {
    const alone = generate(model, [p], { maxNewTokens: 8, temperature: 0 });
    assert.deepEqual(batched.tokens[i], alone.tokens[0], `prompt ${i}`);
  });
});

test('rows that end early leave the batch, and the rest generate what they generate alone', () => {
  const prompts = [[1, 85, 91], [7, 8], [300, 301, 302, 303], [40, 41], [450, 17, 9], [12], [460, 461], [2, 3, 4, 5]];
  const free = prompts.map((p) => generate(model, [p], { maxNewTokens: 10, temperature: 0 }).tokens[0]);
  // EOS ids that end half the rows early (the third token of each even row's continuation; others may meet them too)
  const eos = [...new Set(free.filter((_, i) => i % 2 === 0).map((t) => t[2]))];
  const upToEos = (t: number[]) => {
    const at = t.findIndex((x) => eos.includes(x));
    return at < 0 ? t : t.slice(0, at + 1);
  };
  const batched = generate(model, prompts, { maxNewTokens: 10, temperature: 0, eosIds: eos });
  prompts.forEach((p, i) => {
    const alone = generate(model, [p], { maxNewTokens: 10, temperature: 0, eosIds: eos });
    assert.deepEqual(batched.tokens[i], alone.tokens[0], `prompt ${i}`);
    assert.deepEqual(batched.tokens[i], upToEos(free[i]), `prompt ${i}`);
  });
  assert.ok(batched.tokens.some((t) => t.length === 10), 'every row ended early: no row went on in a smaller batch');
  assert.ok(batched.tokens.filter((t) => t.length < 10).length >= prompts.length / 4, 'under a quarter ended early: the batch was never cut');
  assert.ok(batched.finished.filter(Boolean).length >= prompts.length / 4, 'fewer than a quarter ended: no row left the batch');
});

test('sampling repeats for a seed and differs across seeds', () => {
  const prompt = [[1, 85, 91]];
  const a = generate(model, prompt, { maxNewTokens: 16, temperature: 1, topP: 0.9, seed: 5 });
  const b = generate(model, prompt, { maxNewTokens: 16, temperature: 1, topP: 0.9, seed: 5 });
  const c = generate(model, prompt, { maxNewTokens: 16, temperature: 1, topP: 0.9, seed: 6 });
  assert.deepEqual(a.tokens, b.tokens);
  assert.notDeepEqual(a.tokens, c.tokens);
});

test('generation stops a row at EOS', () => {
  const prompt = [1, 85, 91, 266, 332];
  const free = generate(model, [prompt], { maxNewTokens: 6, temperature: 0 });
  const eos = free.tokens[0][2];
  const stopped = generate(model, [prompt], { maxNewTokens: 6, temperature: 0, eosIds: [eos] });
  assert.deepEqual(stopped.tokens[0], free.tokens[0].slice(0, free.tokens[0].indexOf(eos) + 1));
  assert.equal(stopped.finished[0], true);
});

test('steering applies to generated tokens, not only the prompt', () => {
  const v = new Float32Array(model.config.dModel).map((_, i) => Math.sin(i));
  const hooks = [steeringHook({ layer: 1, alpha: 3, vector: v })];
  const prompt = [1, 85, 91, 266];
  const g = generate(model, [prompt], { maxNewTokens: 10, temperature: 0, hooks });
  assertGreedyConsistent(prompt, g.tokens[0], hooks);
  const plain = generate(model, [prompt], { maxNewTokens: 10, temperature: 0 });
  assert.notDeepEqual(g.tokens[0], plain.tokens[0], 'steering changed the continuation');
});

test("steering with positions 'prompt' steers the prompt's positions only", () => {
  const v = new Float32Array(model.config.dModel).map((_, i) => Math.sin(i));
  const prompt = [1, 85, 91, 266];
  const g = generate(model, [prompt], { maxNewTokens: 10, temperature: 0, hooks: [steeringHook({ layer: 1, alpha: 1, vector: v, positions: 'prompt' })] });
  // the same intervention without a cache: add v where the absolute position is a prompt position
  const full = steeringHook({ layer: 1, alpha: 1, vector: v });
  const masked: Hook = {
    name: full.name,
    fn: (x, ctx) => tf.tidy(() => {
      const inPrompt = tf.tensor(Array.from(ctx.positions, (p) => (p < prompt.length ? 1 : 0)), [...x.shape.slice(0, 2), 1]);
      return tf.add(x, tf.mul(tf.sub(full.fn(x, ctx) as tf.Tensor, x), inPrompt));
    }),
  };
  assertGreedyConsistent(prompt, g.tokens[0], [masked]);
  const promptOnly = steeringHook({ layer: 1, alpha: 1, vector: v, positions: 'prompt' });
  const x = tf.zeros([1, 1, model.config.dModel]);
  const ctx = { name: full.name, layer: 1, positions: Int32Array.of(prompt.length) };
  assert.equal(promptOnly.fn(x, { ...ctx, phase: 'decode' }), undefined, 'a decode step is left alone');
  const steered = promptOnly.fn(x, { ...ctx, phase: 'prefill' }) as tf.Tensor;
  assert.ok(Math.abs(steered.dataSync()[1] - Math.sin(1)) < 1e-6, 'the prefill is steered');
  tf.dispose([x, steered]);
});

test('top-p keeps the smallest head of mass ≥ p; temperature 0 is argmax', () => {
  const logits = Float32Array.from([0, Math.log(6), Math.log(3), 0]); // probs 1/11, 6/11, 3/11, 1/11
  const rng = new Rng(1);
  for (let i = 0; i < 50; i++) assert.equal(sample(logits, 1, 0.5, rng), 1);
  const seen = new Set(Array.from({ length: 200 }, () => sample(logits, 1, 0.8, rng)));
  assert.deepEqual([...seen].sort(), [1, 2]);
  assert.equal(sample(logits, 0, 1, rng), 1);
});

test('forward, cache, steer and generate leave tf.memory().numTensors unchanged', () => {
  const start = tf.memory().numTensors;
  const v = new Float32Array(model.config.dModel).fill(0.1);
  const r = forward(model, [[1, 2, 3]], { cache: ['blocks.0.hook_resid_post', 'blocks.1.attn.hook_z', 'blocks.2.mlp.hook_post'], hooks: [steeringHook({ layer: 0, alpha: 1, vector: v })] });
  assert.deepEqual(r.activations['blocks.1.attn.hook_z']!.shape, [1, 3, model.config.nHeads * model.config.dHead]);
  assert.deepEqual(r.activations['blocks.2.mlp.hook_post']!.shape, [1, 3, model.config.dMlp]);
  tf.dispose([r.logits!, ...Object.values(r.activations)]);
  generate(model, [[1, 2], [3, 4, 5]], { maxNewTokens: 5, hooks: [steeringHook({ layer: 1, alpha: 2, vector: v })] });
  assert.equal(tf.memory().numTensors, start);
});
