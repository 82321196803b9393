// A clear error where the wasm backend runs out of heap: tfjs-wasm takes malloc's 0 (wasm32's 4 GiB spent, or no free
// block that large) as an address and writes the tensor there, over the allocator's own records — the process then
// dies later with "memory access out of bounds". No tensor axes.
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/log.ts';

export interface WasmModule { _malloc(bytes: number): number; HEAPU8: Uint8Array }

const guarded = new WeakSet<object>();
const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** Makes every tensor allocation of the active wasm backend throw a UserError instead of writing at address 0. */
export function guardWasmHeap(): void {
  const wasm = (tf.backend() as unknown as { wasm?: WasmModule }).wasm;
  if (wasm) guardMalloc(wasm);
}

/** Wraps the module's malloc (once): a failed allocation throws, naming its size and the heap's. */
export function guardMalloc(wasm: WasmModule): void {
  if (guarded.has(wasm)) return;
  guarded.add(wasm);
  const malloc = wasm._malloc.bind(wasm);
  wasm._malloc = (bytes: number) => {
    const at = malloc(bytes);
    if (at === 0 && bytes > 0) {
      throw new UserError(`wasm heap exhausted: no room for a tensor of ${MiB(bytes)} (heap ${MiB(wasm.HEAPU8.length)} of wasm32's 4096 MiB, with ${MiB(tf.memory().numBytes)} in tensors); use fewer tokens at once (smaller batches, shorter inputs), a smaller model, or the tensorflow backend`);
    }
    return at;
  };
}
