// Threaded wasm in Node: the threaded-SIMD build starts with its worker script from a file, and gives the single-threaded
// build's results within float32 rounding — logits of the reference Qwen2, the kernels emlens registers (the gather
// gradient, the contiguous and per-matrix BatchMatMul). Each thread count runs in its own process (one wasm module per
// process). Axes: logits [seq, vocab]; matmul operands [batch, m, k] × [batch, k, n].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';

const CHILD = join(PACKAGE_ROOT, 'test', 'backend', 'threads-child.ts');

function run(threads: number): { threads: number; logits: number[]; mm: number[]; big: number[]; grad: number[]; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, String(threads)], {
    encoding: 'utf8', cwd: PACKAGE_ROOT, timeout: 120_000, maxBuffer: 1 << 26,
  });
  assert.equal(r.status, 0, `${threads} threads: exit ${r.status} (${r.signal ?? ''}) ${r.stderr}`);
  return { ...JSON.parse(r.stdout), stderr: r.stderr };
}

function maxRelDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let scale = 0, d = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]));
    d = Math.max(d, Math.abs(a[i] - b[i]));
  }
  return d / Math.max(scale, 1e-30);
}

test('2 threads give the 1-thread results within float32 rounding, and the process exits by itself', () => {
  const one = run(1), two = run(2);
  assert.equal(one.threads, 1);
  assert.equal(two.threads, 2, 'the threaded build should run a pool of 2');
  assert.match(two.stderr, /^backend: wasm \(simd, 2 threads\)/m);
  for (const k of ['logits', 'mm', 'big', 'grad'] as const) {
    const d = maxRelDiff(one[k], two[k]);
    assert.ok(d < 1e-5, `${k}: 1 vs 2 threads differ by ${d} of the largest value`);
  }
});
