// Kernels some tfjs backends lack or run slowly, registered so every backend can also train, and fast.
// UnsortedSegmentSum: x [n, ...inner], segmentIds [n] → [numSegments, ...inner] (the gather/embedding gradient).
// BatchMatMul on wasm: transposed operands ([..., k, m]ᵀ) are made contiguous first — ~10× faster than the strided path —
// and a batch of big enough products ([B, m, k] × [B, k, n], attention) runs as B plain 2-D products — 2–7× faster;
// a transposed a too big to copy whole ([k, m] with k·m·4 > 64 MiB) is multiplied block by block of k rows.
// Identity and a same-dtype Cast on wasm share the input's buffer (as Reshape does) instead of copying it: the gradient
// tape clones every tensor it saves for the backward pass (≈ 400 Identity calls per organism training micro-step).
// Slice on wasm copies from the input in place: wasm's own reads the whole input out of the heap first (a copy of all
// of it for each slice: 2.4 s of a quick demo's main process went to cutting finished rows out of the KV cache).
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from './select.ts';

interface WasmLikeBackend {
  incRef(dataId: object): void;
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array;
  disposeData(dataId: object, force?: boolean): boolean;
  wasm?: { HEAPU8: Uint8Array };
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

/**
 * x [...] → x[begin : begin + size], copied straight from the wasm heap in runs: the dims after the last one the
 * slice cuts are whole, so a run is size[d] × (their product) contiguous values.
 */
function heapSlice(original: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: KernelArgs) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const rank = x.shape.length;
    if (x.dtype === 'string' || rank === 0) return original({ inputs, backend, attrs } as Parameters<tf.KernelFunc>[0]);
    const { begin, size: sizeAttr } = attrs as { begin: number[]; size: number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, sizeAttr);
    const be = backend as WasmLikeBackend;
    const out = be.makeOutput(s, x.dtype);
    if (size(s) === 0) return out;
    // views taken after makeOutput, which may grow (and so move) the heap
    const xs = be.typedArrayFromHeap(x), os = be.typedArrayFromHeap(out);
    const strides = [...tf.util.computeStrides(x.shape), 1]; // strides[i]: values per step along dim i
    let d = rank - 1;
    while (d > 0 && b[d] === 0 && s[d] === x.shape[d]) d--;
    const run = s[d] * strides[d];
    const idx = new Array<number>(d).fill(0); // position among the outer dims [0, d)
    for (let o = 0; o < os.length; o += run) {
      let at = b[d] * strides[d];
      for (let i = 0; i < d; i++) at += (b[i] + idx[i]) * strides[i];
      os.set(xs.subarray(at, at + run), o);
      for (let i = d - 1; i >= 0 && ++idx[i] === s[i]; i--) idx[i] = 0;
    }
    return out;
  }) as tf.KernelFunc;
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
    // a batch of small products runs wasm's scalar loop whatever is done here, and that loop reads b along k: a
    // transposed b is contiguous there, so it keeps its flag (decode attention, q·Kᵀ against the cache: no copy of K)
    const m = inner(a, transposeA), k = inner(a, !transposeA), n = inner(b, !transposeB);
    const batch = Math.max(size(a.shape.slice(0, -2)), size(b.shape.slice(0, -2)));
    const keepFlagB = transposeB && batch > 1 && m * k * n < LOOP_MIN_MACS;
    if (transposeA && !transposeB) {
      const summed = blockwiseTransposedA(original, transpose, be, a, b);
      if (summed) return summed;
    }
    const at = transposeA ? swapLast(a) : a;
    let bt: tf.TensorInfo | undefined;
    let ownsBt = false;
    try {
      if (keepFlagB) return original({ inputs: { a: at, b }, backend, attrs: { ...attrs, transposeA: false } } as Parameters<tf.KernelFunc>[0]);
      bt = transposeB ? transposedWeights(be, b) : b;
      if (!bt) {
        bt = swapLast(b);
        ownsBt = true;
      }
      return batchedAs2d(original, be, at, bt) ?? original({ inputs: { a: at, b: bt }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } } as Parameters<tf.KernelFunc>[0]);
    } finally {
      if (at !== a) be.disposeData(at.dataId);
      if (bt && ownsBt) be.disposeData(bt.dataId);
    }
  }) as tf.KernelFunc;

  /**
   * The kept transposed copy of a 2-D b seen transposed before (a weight in a backward pass: dx = dy·Wᵀ, once per
   * micro-step), made on its second use and freed with b; undefined for a first sight, or past TRANSPOSED_MAX_BYTES.
   * One copy per weight means one XNNPACK operator packed for it (its cache is keyed by b's buffer), where a fresh copy
   * each time had XNNPACK pack the weights again: 1.0 ms against 0.58 for the organism's 78 × 128 × 512 product.
   */
  function transposedWeights(be: WasmLikeBackend, b: tf.TensorInfo): tf.TensorInfo | undefined {
    if (b.shape.length !== 2) return undefined;
    const kept = transposedCopies.get(b.dataId);
    if (kept) return kept;
    const bytes = 4 * size(b.shape);
    const crowded = (be.wasm?.HEAPU8.length ?? 0) > KEEP_COPIES_MAX_HEAP; // a 0.5B model: its training needs the room
    if (!seenTransposed.has(b.dataId) || crowded || transposedBytes + bytes > TRANSPOSED_MAX_BYTES) {
      seenTransposed.add(b.dataId);
      return undefined;
    }
    freeWithSource(be);
    const copy = swapLast2d(b);
    transposedCopies.set(b.dataId, copy);
    transposedBytes += bytes;
    return copy;

    function swapLast2d(t: tf.TensorInfo): tf.TensorInfo {
      return transpose({ inputs: { x: t }, backend: be, attrs: { perm: [1, 0] } } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    }
  }
}

const size = (shape: number[]) => shape.reduce((x, d) => x * d, 1);

/** At most this much memory in kept transposed copies (the organism's weights need 1.5 MiB; a 0.5B model's 1.4 GiB). */
const TRANSPOSED_MAX_BYTES = 256 << 20;
/** No more copies are kept once the wasm heap has grown past half of wasm32's 4 GiB. */
const KEEP_COPIES_MAX_HEAP = 2 ** 31;
const seenTransposed = new WeakSet<object>();
const transposedCopies = new Map<object, tf.TensorInfo>();
let transposedBytes = 0;
const patchedBackends = new WeakSet<object>();

/** Makes the backend free a kept transposed copy when the tensor it was made from is freed. */
function freeWithSource(be: WasmLikeBackend): void {
  if (patchedBackends.has(be)) return;
  patchedBackends.add(be);
  const disposeData = be.disposeData.bind(be);
  be.disposeData = (dataId: object, force?: boolean) => {
    const freed = disposeData(dataId, force);
    const copy = freed ? transposedCopies.get(dataId) : undefined;
    if (copy) {
      transposedCopies.delete(dataId);
      transposedBytes -= 4 * size(copy.shape);
      disposeData(copy.dataId);
    }
    return freed;
  };
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
  const nA = size(batchA), nB = size(batchB), nOut = Math.max(nA, nB);
  if (nOut < 2 || m * k * n < LOOP_MIN_MACS || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const sameBatch = batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i]);
  if (!sameBatch && nA !== 1 && nB !== 1) return undefined;
  // the batch dims broadcast as the original kernel's do (a side's extra leading 1s are kept)
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB), m, n];
  const out = be.makeOutput(outShape, 'float32');
  const call = original as (args: { inputs: { a: tf.TensorInfo; b: tf.TensorInfo }; backend: unknown; attrs: tf.NamedAttrMap }) => tf.TensorInfo;
  for (let i = 0; i < nOut; i++) {
    const ai = heapRows(be, a, (nA === 1 ? 0 : i) * m, m, k), bi = heapRows(be, b, (nB === 1 ? 0 : i) * k, k, n);
    const oi = call({ inputs: { a: ai, b: bi }, backend: be, attrs: { transposeA: false, transposeB: false } });
    be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(oi), i * m * n);
    for (const t of [ai, bi, oi]) be.disposeData(t.dataId);
  }
  return out;
}

/** Rows [from, from + rows) of t's values seen as [*, cols], copied into a new [rows, cols] float32 tensor. */
function heapRows(be: WasmLikeBackend, t: tf.TensorInfo, from: number, rows: number, cols: number): tf.TensorInfo {
  const s = be.makeOutput([rows, cols], 'float32');
  // the heap may grow on every allocation: views taken after it
  be.typedArrayFromHeap(s).set(be.typedArrayFromHeap(t).subarray(from * cols, (from + rows) * cols));
  return s;
}

/** Above this size a transposed a is not copied whole (a 0.5B model's tied embedding, 519 MiB, in its backward). */
const WHOLE_TRANSPOSE_MAX_BYTES = 64 << 20;

/**
 * aᵀ·b for a [1…, k, m] and b [1…, k, n] (one matrix each) too big to transpose at once: the sum over blocks of k of
 * a[rows]ᵀ·b[rows], each block ≤ half WHOLE_TRANSPOSE_MAX_BYTES of a, summed in float32 in block order. Undefined
 * for batched products and for an a small enough to transpose whole.
 */
function blockwiseTransposedA(original: tf.KernelFunc, transpose: tf.KernelFunc, be: WasmLikeBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo | undefined {
  const [k, m] = a.shape.slice(-2), n = b.shape[b.shape.length - 1];
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  if (size(batchA) !== 1 || size(batchB) !== 1 || 4 * k * m <= WHOLE_TRANSPOSE_MAX_BYTES) return undefined;
  const rowsPerBlock = Math.max(1, Math.floor(WHOLE_TRANSPOSE_MAX_BYTES / 2 / (4 * m)));
  const call = original as (args: { inputs: { a: tf.TensorInfo; b: tf.TensorInfo }; backend: unknown; attrs: tf.NamedAttrMap }) => tf.TensorInfo;
  const sum = new Float32Array(m * n); // [m, n]
  for (let from = 0; from < k; from += rowsPerBlock) {
    const rows = Math.min(rowsPerBlock, k - from);
    const aRows = heapRows(be, a, from, rows, m); // [rows, m]
    const aT = transpose({ inputs: { x: aRows }, backend: be, attrs: { perm: [1, 0] } } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo; // [m, rows]
    be.disposeData(aRows.dataId);
    const bRows = heapRows(be, b, from, rows, n); // [rows, n]
    const part = call({ inputs: { a: aT, b: bRows }, backend: be, attrs: { transposeA: false, transposeB: false } }); // [m, n]
    const p = be.typedArrayFromHeap(part);
    for (let i = 0; i < sum.length; i++) sum[i] += p[i];
    for (const t of [aT, bRows, part]) be.disposeData(t.dataId);
  }
  const out = be.makeOutput([...tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB), m, n], 'float32');
  be.typedArrayFromHeap(out).set(sum);
  return out;
}

/**
 * x → x without a copy: the output shares x's buffer, counted by reference. Safe because no wasm kernel writes into an
 * input and a variable's assign takes a new buffer. A cast to another dtype, and strings, go to the original kernel.
 */
function sharedIdentity(original: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: KernelArgs) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    const dtype = (attrs as { dtype?: tf.DataType } | undefined)?.dtype ?? x.dtype;
    if (dtype !== x.dtype || x.dtype === 'string') return original({ inputs, backend, attrs } as Parameters<tf.KernelFunc>[0]);
    (backend as WasmLikeBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }) as tf.KernelFunc;
}

const registered = new Set<string>();

export function registerMissingKernels(backend: BackendName): void {
  if (backend !== 'wasm' || registered.has(backend)) return;
  registered.add(backend);
  if (!tf.getKernel('UnsortedSegmentSum', backend)) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: backend, kernelFunc: unsortedSegmentSumHost as unknown as tf.KernelFunc });
  }
  for (const name of ['Identity', 'Cast']) {
    const k = tf.getKernel(name, backend);
    if (!k) continue;
    tf.unregisterKernel(name, backend);
    tf.registerKernel({ ...k, kernelFunc: sharedIdentity(k.kernelFunc) });
  }
  const sl = tf.getKernel('Slice', backend);
  if (sl) {
    tf.unregisterKernel('Slice', backend);
    tf.registerKernel({ ...sl, kernelFunc: heapSlice(sl.kernelFunc) });
  }
  const mm = tf.getKernel('BatchMatMul', backend);
  const tr = tf.getKernel('Transpose', backend);
  if (mm && tr) {
    tf.unregisterKernel('BatchMatMul', backend);
    tf.registerKernel({ ...mm, kernelFunc: contiguousBatchMatMul(mm.kernelFunc, tr.kernelFunc) });
  }
}
