// Data-parallel gradients for full-model training on CPU cores: a batch is cut into a fixed number of shards, each
// shard's Σ-loss gradient is computed (shard 0 here, the others on worker threads holding a replica), and the
// shards' gradients are added in shard order — so the result is the same bit for bit whatever the worker count.
// Axes: shards are Batches [batch, seq]; gradients have their variables' shapes.
import * as tf from '@tensorflow/tfjs';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Model } from '../model/modules.ts';
import { activeBackend } from '../backend/select.ts';
import { nllSum, rowLogits } from './loss.ts';
import type { Batch, TokenizedExample } from './data.ts';
import { needsTsx, siblingModule } from '../util/package-root.ts';

/** Main → worker: build the replica, then one shard per message with the weights it is to use. */
export type ToShardWorker =
  | { kind: 'init'; config: Record<string, unknown>; names: string[]; backend: string }
  | { kind: 'shard'; weights: Float32Array[]; batch: Batch; wrt?: number[] };
/** Worker → main: ready, a shard's loss sum and gradients (in the order of `wrt`, else of the variables), or an error. */
export type FromShardWorker = { kind: 'ready' } | { kind: 'grads'; lossSum: number; grads: Float32Array[] } | { kind: 'error'; message: string };

/** Round-robin: example j goes to shard j mod k (a length-sorted batch gives shards of like lengths). */
export function splitShards(examples: TokenizedExample[], k: number): TokenizedExample[][] {
  return Array.from({ length: k }, (_, s) => examples.filter((_, j) => j % k === s));
}

/** Σ over the shard's loss rows of −log p, and its gradient for each variable of `wrt` (by variable name). */
export function shardGradients(model: Model, wrt: tf.Variable[], batch: Batch): { lossSum: number; grads: Map<string, tf.Tensor> } {
  const { value, grads } = tf.variableGrads(() => nllSum(rowLogits(model, [], batch), batch.lossTargets), wrt);
  const lossSum = value.dataSync()[0];
  value.dispose();
  return { lossSum, grads: new Map(Object.entries(grads)) };
}

/** How many worker threads a build with `shards` shards gets: one core each on CPU backends, none on accelerators. */
export function defaultShardWorkers(shards: number): number {
  const b = activeBackend();
  return b === 'wasm' || b === 'cpu' ? Math.max(0, Math.min(shards, availableParallelism()) - 1) : 0;
}

const WORKER_URL = siblingModule('data-parallel-worker', import.meta.url); // .ts from the sources, .js from the build
const WORKER = WORKER_URL.href;

class ShardWorker {
  private pending?: { resolve: (m: FromShardWorker) => void; reject: (e: Error) => void };
  private readonly thread: Worker;

  constructor() {
    // the worker runs the TypeScript sources through the same loader as this thread
    const api = needsTsx(WORKER_URL) ? import.meta.resolve('tsx/esm/api') : undefined;
    this.thread = new Worker(api ? `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER)}); })` : `import(${JSON.stringify(WORKER)})`, { eval: true });
    this.thread.on('message', (m: FromShardWorker) => this.settle((p) => (m.kind === 'error' ? p.reject(new Error(`data-parallel worker: ${m.message}`)) : p.resolve(m))));
    this.thread.on('error', (e) => this.settle((p) => p.reject(e)));
    this.thread.on('exit', (code) => this.settle((p) => p.reject(new Error(`data-parallel worker exited (code ${code})`))));
  }

  private settle(f: (p: NonNullable<ShardWorker['pending']>) => void): void {
    const p = this.pending;
    this.pending = undefined;
    if (p) f(p);
  }

  request(m: ToShardWorker, transfer: ArrayBuffer[] = []): Promise<FromShardWorker> {
    if (this.pending) throw new Error('data-parallel worker: a request is already in flight');
    const reply = new Promise<FromShardWorker>((resolve, reject) => (this.pending = { resolve, reject }));
    this.thread.postMessage(m, transfer);
    return reply;
  }

  close(): Promise<number> {
    return this.thread.terminate();
  }
}

/** Gradients of a sharded batch, the shards spread over this thread and `workers` worker threads. */
export class ShardedGradients {
  private constructor(private readonly workers: ShardWorker[]) {}

  /** Starts `workers` replicas of the model that `config` (an HF config.json object) describes. */
  static async start(config: Record<string, unknown>, vars: tf.Variable[], workers: number): Promise<ShardedGradients> {
    const pool = Array.from({ length: workers }, () => new ShardWorker());
    const sg = new ShardedGradients(pool);
    try {
      await Promise.all(pool.map((w) => w.request({ kind: 'init', config, names: vars.map((v) => v.name), backend: activeBackend() })));
    } catch (e) {
      await sg.close();
      throw e;
    }
    return sg;
  }

  /**
   * Σ-loss over all shards and the summed gradients, added in shard order. Shard s runs on worker s − 1 when there
   * is one (concurrently with shard 0 here), else here after the others. Gradients are taken for the variables named
   * in `trains` (all of them when it is undefined); every variable's value is sent, as the forward pass needs them all.
   */
  async compute(model: Model, vars: tf.Variable[], shards: Batch[], trains?: Set<string>): Promise<{ lossSum: number; grads: Map<string, tf.Tensor> }> {
    const wrtIndex = trains ? vars.flatMap((v, i) => (trains.has(v.name) ? [i] : [])) : undefined;
    const wrt = wrtIndex ? wrtIndex.map((i) => vars[i]) : vars;
    const remote = shards.slice(1, 1 + this.workers.length);
    const replies = remote.map((batch, i) => {
      const weights = vars.map((v) => new Float32Array(v.dataSync() as Float32Array)); // a copy: its buffer is transferred
      return this.workers[i].request({ kind: 'shard', weights, batch, wrt: wrtIndex }, weights.map((w) => w.buffer as ArrayBuffer));
    });
    const results: { lossSum: number; grads: Map<string, tf.Tensor> }[] = [shardGradients(model, wrt, shards[0])];
    for (const [i, reply] of replies.entries()) {
      const m = await reply;
      if (m.kind !== 'grads') throw new Error(`data-parallel worker: unexpected reply ${m.kind}`);
      results[1 + i] = { lossSum: m.lossSum, grads: new Map(wrt.map((v, j) => [v.name, tf.tensor(m.grads[j], v.shape)])) };
    }
    for (let s = 1 + remote.length; s < shards.length; s++) results[s] = shardGradients(model, wrt, shards[s]);
    let lossSum = 0;
    const grads = new Map<string, tf.Tensor>();
    for (const r of results) {
      lossSum += r.lossSum;
      for (const [k, g] of r.grads) {
        const acc = grads.get(k);
        if (!acc) grads.set(k, g);
        else {
          grads.set(k, tf.add(acc, g));
          tf.dispose([acc, g]);
        }
      }
    }
    return { lossSum, grads };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
