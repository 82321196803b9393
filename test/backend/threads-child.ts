// Child of threads.test.ts: starts wasm with argv[2] threads and prints, as JSON, the reference Qwen2's logits and the
// results of the kernels emlens registers. Axes: logits [seq, vocab]; matmul operands [batch, m, k] × [batch, k, n].
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import * as tf from '@tensorflow/tfjs';
import { initBackend, backendThreads } from '../../src/backend/select.ts';
import { loadModel } from '../../src/model/load.ts';
import { forward } from '../../src/model/transformer.ts';
await initBackend('wasm', { threads: Number(process.argv[2]) });
const model = loadModel(join(PACKAGE_ROOT, 'fixtures/reference/qwen2'));
const logits = Array.from(forward(model, [[1, 85, 91, 7, 300, 12, 44, 9]]).logits!.dataSync());
const a = tf.randomNormal([6, 70, 40], 0, 1, 'float32', 1), b = tf.randomNormal([6, 50, 40], 0, 1, 'float32', 2);
const mm = Array.from(tf.matMul(a, b, false, true).dataSync());
const big = Array.from(tf.matMul(tf.randomNormal([96, 256], 0, 1, 'float32', 3), tf.randomNormal([256, 200], 0, 1, 'float32', 4)).dataSync());
const embed = tf.randomNormal([50, 16], 0, 1, 'float32', 5), ids = tf.tensor1d([3, 7, 3, 49, 0], 'int32');
const grad = Array.from(tf.grad((e: tf.Tensor) => tf.sum(tf.square(tf.gather(e, ids))))(embed).dataSync());
process.stdout.write(JSON.stringify({ threads: backendThreads(), logits, mm, big, grad }));
