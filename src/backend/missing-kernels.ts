// Kernels some tfjs backends lack or run slowly, registered so every backend can also train, and fast.
// UnsortedSegmentSum: x [n, ...inner], segmentIds [n] → [numSegments, ...inner] (the gather/embedding gradient).
// BatchMatMul on wasm: transposed operands ([..., k, m]ᵀ) are made contiguous first — ~10× faster than the strided path —
// and a batch of big enough products ([B, m, k] × [B, k, n], attention) runs as B plain 2-D products — 2–7× faster.
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from './select.ts';

interface WasmLikeBackend {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array;
  disposeData(dataId: object): boolean;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** Segment sum on host memory; only used where a backend has no kernel of its own (wasm). */
function unsortedSegmentSumHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const b = backend as WasmLikeBackend;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const outer = segmentIds.shape.reduce((a, d) => a * d, 1);
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const inner = innerShape.reduce((a, d) => a * d, 1);
  const xs = b.readSync(x.dataId);
  const ids = b.readSync(segmentIds.dataId);
  const out = b.makeOutput([numSegments, ...innerShape], x.dtype);
  const o = b.typedArrayFromHeap(out);
  o.fill(0);
  for (let i = 0; i < outer; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue; // TF drops out-of-range ids
    const src = i * inner, dst = s * inner;
    for (let j = 0; j < inner; j++) o[dst + j] += xs[src + j];
  }
  return out;
}

/** Wraps wasm's BatchMatMul: transposes a flagged operand explicitly, then multiplies without flags. */
function contiguousBatchMatMul(original: tf.KernelFunc, transpose: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: KernelArgs) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return batchedAs2d(original, backend as WasmLikeBackend, a, b) ?? original({ inputs, backend, attrs } as Parameters<tf.KernelFunc>[0]);
    const swapLast = (t: tf.TensorInfo) => {
      const r = t.shape.length;
      const perm = [...Array(r - 2).keys(), r - 1, r - 2];
      return transpose({ inputs: { x: t }, backend, attrs: { perm } } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    };
    // what the original kernel refuses (another dtype, inner dims that do not match) goes to it untouched, so that
    // its error names the shapes and flags as given and no transposed copy is left behind
    const inner = (t: tf.TensorInfo, last: boolean) => t.shape[t.shape.length - (last ? 1 : 2)];
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || inner(a, !transposeA) !== inner(b, transposeB)) return original({ inputs, backend, attrs } as Parameters<tf.KernelFunc>[0]);
    const be = backend as WasmLikeBackend;
    const at = transposeA ? swapLast(a) : a;
    let bt: tf.TensorInfo | undefined;
    try {
      bt = transposeB ? swapLast(b) : b;
      return batchedAs2d(original, be, at, bt) ?? original({ inputs: { a: at, b: bt }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } } as Parameters<tf.KernelFunc>[0]);
    } finally {
      if (at !== a) be.disposeData(at.dataId);
      if (bt && bt !== b) be.disposeData(bt.dataId);
    }
  }) as tf.KernelFunc;
}

/** Below this many multiply-adds per product the per-call overhead outweighs wasm's slow batched loop. */
const LOOP_MIN_MACS = 1 << 16;

/**
 * a [...batch, m, k] × b [...batch, k, n] (no transposes) as one 2-D product per batch element, copied through the
 * wasm heap; wasm's batched kernel is a scalar loop, its 2-D kernel is XNNPACK. Returns undefined when the batch is
 * trivial, broadcast in a way other than one side having a single matrix, or the products are too small to gain.
 */
function batchedAs2d(original: tf.KernelFunc, be: WasmLikeBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo | undefined {
  const [m, k] = a.shape.slice(-2), n = b.shape[b.shape.length - 1];
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const size = (s: number[]) => s.reduce((x, d) => x * d, 1);
  const nA = size(batchA), nB = size(batchB), nOut = Math.max(nA, nB);
  if (nOut < 2 || m * k * n < LOOP_MIN_MACS || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const sameBatch = batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i]);
  if (!sameBatch && nA !== 1 && nB !== 1) return undefined;
  // the batch dims broadcast as the original kernel's do (a side's extra leading 1s are kept)
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB), m, n];
  const out = be.makeOutput(outShape, 'float32');
  const call = original as (args: { inputs: { a: tf.TensorInfo; b: tf.TensorInfo }; backend: unknown; attrs: tf.NamedAttrMap }) => tf.TensorInfo;
  const slice = (t: tf.TensorInfo, rows: number, cols: number, i: number) => {
    const s = be.makeOutput([rows, cols], 'float32');
    // the heap may grow on every allocation: take fresh views each time
    be.typedArrayFromHeap(s).set(be.typedArrayFromHeap(t).subarray(i * rows * cols, (i + 1) * rows * cols));
    return s;
  };
  for (let i = 0; i < nOut; i++) {
    const ai = slice(a, m, k, nA === 1 ? 0 : i), bi = slice(b, k, n, nB === 1 ? 0 : i);
    const oi = call({ inputs: { a: ai, b: bi }, backend: be, attrs: { transposeA: false, transposeB: false } });
    be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(oi), i * m * n);
    for (const t of [ai, bi, oi]) be.disposeData(t.dataId);
  }
  return out;
}

const registered = new Set<string>();

export function registerMissingKernels(backend: BackendName): void {
  if (backend !== 'wasm' || registered.has(backend)) return;
  registered.add(backend);
  if (!tf.getKernel('UnsortedSegmentSum', backend)) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: backend, kernelFunc: unsortedSegmentSumHost as unknown as tf.KernelFunc });
  }
  const mm = tf.getKernel('BatchMatMul', backend);
  const tr = tf.getKernel('Transpose', backend);
  if (mm && tr) {
    tf.unregisterKernel('BatchMatMul', backend);
    tf.registerKernel({ ...mm, kernelFunc: contiguousBatchMatMul(mm.kernelFunc, tr.kernelFunc) });
  }
}
