// Backend choice and the kernels we add: wasm gets UnsortedSegmentSum so the embedding (gather) gradient works.
// Axes: embed [vocab, dModel]; ids [n].
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, activeBackend, isBackendChoice } from '../../src/backend/select.ts';
import { guardMalloc, type WasmModule } from '../../src/backend/wasm-heap.ts';
import { UserError } from '../../src/util/log.ts';

before(async () => {
  await initBackend('wasm', { quiet: true });
});

test('wasm is active and named', () => {
  assert.equal(activeBackend(), 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.ok(isBackendChoice('auto') && isBackendChoice('webgpu') && !isBackendChoice('gpu'));
});

test('the gather gradient (UnsortedSegmentSum) works on wasm and sums repeated ids', () => {
  const start = tf.memory().numTensors;
  const embed = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const ids = tf.tensor1d([2, 0, 2, 2], 'int32');
  const weights = tf.tensor2d([[1, 10], [2, 20], [3, 30], [4, 40]]);
  const g = tf.grad((e: tf.Tensor) => tf.sum(tf.mul(tf.gather(e, ids), weights)))(embed);
  assert.deepEqual(g.arraySync(), [[2, 20], [0, 0], [8, 80]]);
  const seg = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d([[1, 1], [2, 2], [4, 4]]), tf.tensor1d([1, 1, 0], 'int32'), 3));
  assert.deepEqual(seg.arraySync(), [[4, 4], [3, 3], [0, 0]]);
  tf.dispose([embed, ids, weights, g, seg]);
  assert.equal(tf.memory().numTensors, start);
});

/** a [..., m, k] · b [..., k, n] by definition, in float64, with numpy-style broadcasting of one side's single matrix. */
function referenceMatMul(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): number[] {
  const swapLast = (t: tf.Tensor) => tf.transpose(t, [...Array(t.rank - 2).keys(), t.rank - 1, t.rank - 2]);
  const A = ta ? swapLast(a) : a, B = tb ? swapLast(b) : b;
  const [m, k] = A.shape.slice(-2), n = B.shape[B.shape.length - 1];
  const av = A.dataSync(), bv = B.dataSync();
  const nA = av.length / (m * k), nB = bv.length / (k * n), batch = Math.max(nA, nB);
  const out: number[] = [];
  for (let z = 0; z < batch; z++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += av[(nA === 1 ? 0 : z) * m * k + i * k + t] * bv[(nB === 1 ? 0 : z) * k * n + t * n + j];
        out.push(s);
      }
  if (A !== a) A.dispose();
  if (B !== b) B.dispose();
  return out;
}

test('wasm BatchMatMul (2-D products per batch element above a size, transposes made contiguous) is exact', () => {
  const start = tf.memory().numTensors;
  const cases: [number[], number[], boolean, boolean][] = [
    [[6, 70, 40], [6, 40, 50], false, false], // looped (70·40·50 multiply-adds per product)
    [[2, 3, 70, 40], [2, 3, 50, 40], false, true], // looped after a contiguous transpose, rank 4
    [[6, 40, 70], [1, 40, 50], true, false], // one side a single matrix, broadcast
    [[1, 70, 40], [6, 40, 50], false, false],
    [[5, 4, 3], [5, 3, 2], false, false], // small: wasm's own batched kernel
    [[64, 32], [32, 48], false, false],
    [[1, 1, 70, 40], [6, 40, 50], false, false], // the side with one matrix has more batch dims: [1, 6, 70, 50]
    [[6, 70, 40], [1, 1, 50, 40], false, true],
    [[64, 2, 32], [64, 11, 32], false, true], // small, b transposed: wasm's own kernel with the flag (decode attention)
    [[5, 4, 3], [5, 2, 4], true, true],
  ];
  for (const [sa, sb, ta, tb] of cases) {
    const a = tf.randomNormal(sa, 0, 1, 'float32', 1), b = tf.randomNormal(sb, 0, 1, 'float32', 2);
    const c = tf.matMul(a, b, ta, tb);
    const want = referenceMatMul(a, b, ta, tb);
    const got = c.dataSync();
    assert.equal(got.length, want.length, `${sa} × ${sb}`);
    const batch = tf.broadcast_util.assertAndGetBroadcastShape(sa.slice(0, -2), sb.slice(0, -2));
    assert.deepEqual(c.shape, [...batch, sa[sa.length - (ta ? 1 : 2)], sb[sb.length - (tb ? 2 : 1)]], `${sa} × ${sb}: shape`);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst < 1e-3, `${sa} × ${sb}: max error ${worst}`);
    tf.dispose([a, b, c]);
  }
  assert.equal(tf.memory().numTensors, start);
  // a product the kernel refuses: its own error, about the shapes and flags given
  const a = tf.randomNormal([4, 8, 5]), b = tf.randomNormal([4, 9, 6]);
  assert.throws(() => tf.matMul(a, b, true, false), /4,8,5.*transposeA=true/);
  tf.dispose([a, b]);
});

const backendBuffers = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();

test('wasm BatchMatMul multiplies a transposed operand too big to copy whole block by block, freeing each block', () => {
  // a [17000, 1000] is 68 MB, over the 64 MiB a whole transposed copy may take (a 0.5B model's tied embedding in the
  // backward of its logits is 519 MiB): aᵀ·b as the sum over blocks of a's rows
  const a = tf.randomNormal([17000, 1000], 0, 1, 'float32', 5), b = tf.randomNormal([17000, 3], 0, 1, 'float32', 6);
  const buffers = backendBuffers();
  const c = tf.matMul(a, b, true, false); // [1000, 3]
  assert.deepEqual(c.shape, [1000, 3]);
  assert.equal(backendBuffers(), buffers + 1, 'only the product is left');
  const want = referenceMatMul(a, b, true, false), got = c.dataSync();
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  assert.ok(worst < 2e-3, `max error ${worst} (sums of 17000 products, each about 130)`);
  tf.dispose([a, b, c]);
});

test('wasm BatchMatMul keeps one transposed copy of a 2-D operand used transposed again, and frees it with the operand', () => {
  const dy = tf.randomNormal([78, 512], 0, 1, 'float32', 3), w = tf.randomNormal([128, 512], 0, 1, 'float32', 4);
  const buffers = backendBuffers();
  const want = referenceMatMul(dy, w, false, true);
  for (let use = 0; use < 3; use++) {
    const dx = tf.matMul(dy, w, false, true); // [78, 128], as a linear layer's backward computes dy·Wᵀ
    const got = dx.dataSync();
    assert.ok(want.every((v, i) => Math.abs(v - got[i]) < 1e-3), `use ${use}`);
    dx.dispose();
    assert.equal(backendBuffers(), buffers + (use === 0 ? 0 : 1), `use ${use}: buffers beyond the inputs`); // the copy, from the second use on
  }
  w.dispose();
  assert.equal(backendBuffers(), buffers - 1, 'the copy is freed with its operand');
  dy.dispose();
});

test('wasm Identity and a same-dtype Cast share the buffer (the gradient tape clones what it saves) and free it with the last user', () => {
  const x = tf.tensor2d([[1.5, -2], [3, 4]]);
  const buffers = backendBuffers();
  const y = tf.clone(x), z = tf.cast(x, 'float32'), i = tf.cast(x, 'int32');
  assert.equal(backendBuffers(), buffers + 1, 'only the int32 cast has a buffer of its own');
  x.dispose();
  z.dispose();
  assert.deepEqual(y.arraySync(), [[1.5, -2], [3, 4]]);
  assert.deepEqual(i.arraySync(), [[1, -2], [3, 4]]);
  y.dispose();
  i.dispose();
  assert.equal(backendBuffers(), buffers - 1);
  // gradients through saved tensors are unchanged
  const v = tf.tensor1d([0.5, -1, 2]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.sigmoid(t), t)))(v);
  const want = [0.5, -1, 2].map((t) => { const s = 1 / (1 + Math.exp(-t)); return s + t * s * (1 - s); });
  g.dataSync().forEach((d, k) => assert.ok(Math.abs(d - want[k]) < 1e-6));
  tf.dispose([v, g]);
});

test('wasm Slice (copied in place from the heap) cuts every rank, dtype and run shape exactly', () => {
  const n0 = tf.memory().numTensors;
  const cases: [number[], number[], number[]][] = [
    [[7], [2], [4]],
    [[5, 6], [1, 0], [3, 6]], // whole rows: one run
    [[5, 6], [0, 2], [5, 3]],
    [[4, 3, 5], [1, 1, 1], [2, 2, 3]],
    [[8, 2, 9, 4], [3, 0, 0, 0], [2, -1, -1, -1]], // a KV-cache row cut: one contiguous run
    [[8, 2, 9, 4], [0, 0, 0, 2], [8, 2, 9, 2]], // RoPE's second half
    [[2, 3, 4, 5, 6], [1, 0, 2, 1, 0], [1, 3, 2, 3, 6]],
    [[3, 4], [1, 1], [0, 2]], // empty
  ];
  for (const [shape, begin, size] of cases) {
    const n = shape.reduce((a, d) => a * d, 1);
    const sizes = size.map((d, i) => (d === -1 ? shape[i] - begin[i] : d));
    // the expected values: every index of the output, read from x's flat order
    const expected: number[] = [];
    const walk = (dim: number, offset: number) => {
      if (dim === shape.length) return void expected.push(offset);
      const stride = shape.slice(dim + 1).reduce((a, d) => a * d, 1);
      for (let i = 0; i < sizes[dim]; i++) walk(dim + 1, offset + (begin[dim] + i) * stride);
    };
    walk(0, 0);
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const values = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? i % 3 === 0 : i + 0.5 * Number(dtype === 'float32')));
      const x = tf.tensor(values as number[], shape, dtype);
      const y = tf.slice(x, begin, size);
      assert.deepEqual(y.shape, sizes, `${shape} ${begin} ${size}`);
      const want = expected.map((i) => (dtype === 'bool' ? Number(values[i]) : values[i]));
      assert.deepEqual([...y.dataSync()], want, `${dtype} ${shape} from ${begin} size ${size}`);
      tf.dispose([x, y]);
    }
  }
  assert.equal(tf.memory().numTensors, n0);
});

test('asking for a backend that cannot start is one clear error', async () => {
  await assert.rejects(initBackend('tensorflow', { quiet: true }), /choice tensorflow: not available here/);
});

test('a failed wasm allocation is one clear error, not a write at address 0', () => {
  const heap = new Uint8Array(3 * 2 ** 20);
  let next = 8;
  const wasm: WasmModule = { HEAPU8: heap, _malloc: (bytes) => (next + bytes <= heap.length ? ((next += bytes), next - bytes) : 0) };
  guardMalloc(wasm);
  guardMalloc(wasm); // once only
  assert.equal(wasm._malloc(2 ** 20), 8);
  assert.throws(() => wasm._malloc(2 ** 21), (e: Error) => e instanceof UserError && /^wasm heap exhausted: no room for a tensor of 2 MiB \(heap 3 MiB of wasm32's 4096 MiB/.test(e.message));
});
