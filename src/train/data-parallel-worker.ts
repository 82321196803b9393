// A worker thread of ShardedGradients: holds a replica of the model being trained, and for each shard it is sent
// takes the sender's weights and returns the shard's Σ-loss gradients. Axes as in data-parallel.ts.
import * as tf from '@tensorflow/tfjs';
import { parentPort } from 'node:worker_threads';
import { initBackend, type BackendChoice } from '../backend/select.ts';
import { parseConfig } from '../model/config.ts';
import { initModel } from '../model/init.ts';
import { disposeModel, type Model } from '../model/modules.ts';
import { toTrainable } from '../model/trainable.ts';
import { shardGradients, type FromShardWorker, type ToShardWorker } from './data-parallel.ts';

let replica: { model: Model; vars: tf.Variable[] } | undefined;

async function handle(m: ToShardWorker): Promise<{ reply: FromShardWorker; transfer: ArrayBuffer[] }> {
  if (m.kind === 'init') {
    await initBackend(m.backend as BackendChoice, { quiet: true });
    const init = initModel(parseConfig(m.config, 'data-parallel replica'));
    const { model, variables } = toTrainable(init);
    disposeModel(init);
    const names = variables.map((v) => v.name);
    if (names.join() !== m.names.join()) throw new Error(`replica variables differ from the trained model's (${names.length} vs ${m.names.length})`);
    replica = { model, vars: variables };
    return { reply: { kind: 'ready' }, transfer: [] };
  }
  if (!replica) throw new Error('shard before init');
  const { vars, model } = replica;
  m.weights.forEach((w, i) => tf.tidy(() => vars[i].assign(tf.tensor(w, vars[i].shape))));
  const wrt = m.wrt ? m.wrt.map((i) => vars[i]) : vars;
  const { lossSum, grads } = shardGradients(model, wrt, m.batch);
  const arrays = wrt.map((v) => new Float32Array(grads.get(v.name)!.dataSync() as Float32Array));
  tf.dispose([...grads.values()]);
  return { reply: { kind: 'grads', lossSum, grads: arrays }, transfer: arrays.map((a) => a.buffer as ArrayBuffer) };
}

parentPort!.on('message', (m: ToShardWorker) => {
  handle(m).then(
    ({ reply, transfer }) => parentPort!.postMessage(reply, transfer),
    (e) => parentPort!.postMessage({ kind: 'error', message: e instanceof Error ? e.message : String(e) } satisfies FromShardWorker),
  );
});
