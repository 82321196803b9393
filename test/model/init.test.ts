// initModel's weights are a function of the seed alone — seed 0 included, which tfjs takes for "no seed" (Math.random)
// unless it is passed through tfSeed. No tensor axes beyond the weights'.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend } from '../helpers.ts';
import { initModel } from '../../src/model/init.ts';
import { parseConfig } from '../../src/model/config.ts';
import { disposeModel, DenseLinear, type Model } from '../../src/model/modules.ts';

before(useTestBackend);

const config = parseConfig({ model_type: 'llama', hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 40, tie_word_embeddings: true }, 'test');

/** Every weight's values, in a fixed order. */
function values(m: Model): number[][] {
  const w = m.weights;
  return [w.embed, ...w.blocks.flatMap((b) => Object.values(b.linears).map((l) => (l as DenseLinear).w))].map((t) => Array.from(t.dataSync()));
}

test('the same seed gives the same weights, seed 0 too; another seed others', () => {
  const before = tf.memory().numTensors;
  for (const seed of [0, 1]) {
    const a = initModel(config, seed), b = initModel(config, seed);
    assert.deepEqual(values(a), values(b), `seed ${seed}`);
    disposeModel(a);
    disposeModel(b);
  }
  const a = initModel(config, 0), b = initModel(config, 1);
  assert.notDeepEqual(values(a)[1], values(b)[1]);
  disposeModel(a);
  disposeModel(b);
  assert.equal(tf.memory().numTensors, before);
});
