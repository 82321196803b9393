// Directions back out: a llama.cpp control vector (GGUF v3) read back by an independent reader (@huggingface/gguf),
// with llama.cpp's layer numbering (direction.N = resid_post(N)); .npy and plain safetensors round trips; the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { Direction } from '../../src/directions/direction.ts';
import { controlVectorTensors, exportDirection } from '../../src/directions/export.ts';
import { readTensorFile } from '../../src/io/tensor-file.ts';

const FIX = join(PACKAGE_ROOT, 'fixtures', 'interop');
const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const tmp = () => mkdtempSync(join(tmpdir(), 'emlens-gguf-'));
const emlens = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

/** The F32 values of each tensor, read at tensorDataOffset + offset as the GGUF reader reports them. */
async function readBack(file: string) {
  const r = await gguf(file, { allowLocalFile: true });
  const bytes = readFileSync(file);
  const tensors = new Map(r.tensorInfos.map((t) => {
    const n = Number(t.shape.reduce((a, x) => a * x, 1n));
    const start = Number(r.tensorDataOffset + t.offset);
    const dv = new DataView(bytes.buffer, bytes.byteOffset + start, n * 4);
    return [t.name, { dtype: t.dtype, shape: t.shape.map(Number), data: Float32Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, true)) }];
  }));
  return { metadata: r.metadata as Record<string, unknown>, tensors, version: r.metadata.version };
}

test('a control vector: GGUF v3, architecture controlvector, model hint, layer count, direction.N = resid_post(N) as F32 [d]', async () => {
  const d = Direction.load(join(FIX, 'dir_blocks.safetensors')); // site resid_post, 3 rows
  const out = join(tmp(), 'cv.gguf');
  const r = exportDirection(d, 'gguf-control-vector', out, { modelHint: 'qwen2', scale: 2 });
  assert.deepEqual(r.mapping, [{ row: 1, direction: 1 }, { row: 2, direction: 2 }]);
  assert.match((r.skipped as { why: string }[])[0].why, /block 0's output, which llama\.cpp cannot steer/);
  const back = await readBack(out);
  assert.equal(back.version, 3);
  assert.equal(back.metadata['general.architecture'], 'controlvector');
  assert.equal(back.metadata['controlvector.model_hint'], 'qwen2');
  assert.equal(back.metadata['controlvector.layer_count'], 2);
  assert.deepEqual([...back.tensors.keys()], ['direction.1', 'direction.2']);
  for (const l of [1, 2]) {
    const t = back.tensors.get(`direction.${l}`)!;
    assert.equal(t.dtype, 0); // GGML F32
    assert.deepEqual(t.shape, [64]);
    assert.deepEqual(Array.from(t.data), Array.from(d.vectors[l], (x) => Math.fround(x * 2)));
  }
});

test('a resid_pre direction goes one layer down (resid_pre(l) = resid_post(l−1)); other sites are refused', () => {
  const d = Direction.make([[1, 0], [0, 1], [1, 1]], { kind: 'x', site: 'resid_pre', positions: 'none', method: 'm' });
  const cv = controlVectorTensors(d);
  assert.deepEqual(cv.mapping, [{ row: 2, direction: 1 }]);
  assert.equal(cv.skipped.length, 2);
  const mlp = Direction.make([[1, 0]], { kind: 'x', site: 'mlp_out', positions: 'none', method: 'm' });
  assert.throws(() => controlVectorTensors(mlp), /taken at mlp_out/);
});

test('npy and pt-compatible safetensors hold [L, d] (or [L+1, d] in hidden_states order) and read back as the same direction', () => {
  const d = Direction.load(join(FIX, 'dir_blocks.safetensors'));
  const dir = tmp();
  exportDirection(d, 'npy', join(dir, 'd.npy'));
  exportDirection(d, 'pt-compatible-safetensors', join(dir, 'h.safetensors'), { layout: 'hidden_states' });
  const npy = readTensorFile(join(dir, 'd.npy')).entries[0].array;
  assert.deepEqual(npy.shape, [3, 64]);
  assert.deepEqual(Array.from(npy.data), Array.from(readTensorFile(join(FIX, 'dir_blocks.safetensors')).entries[0].array.data));
  const st = readTensorFile(join(dir, 'h.safetensors')).entries;
  assert.deepEqual(st.map((e) => [e.name, e.array.shape]), [['direction', [4, 64]]]);
  assert.ok(st[0].array.data.subarray(0, 64).every((x) => x === 0), 'row 0 (embedding output): zeros');
  // read back with the hidden_states layout: the same rows
  const again = Direction.load(join(dir, 'h.safetensors'), { nLayers: 3 });
  assert.deepEqual(again.vectors.map((v) => Array.from(v)), d.vectors.map((v) => Array.from(Float32Array.from(v))));
});

test('emlens export-direction on the command line; a bad format or a missing hint is one error, nothing written', async () => {
  const dir = tmp();
  const out = join(dir, 'cv.gguf');
  const ok = emlens('export-direction', join(FIX, 'dir_hidden.pt'), '--vector-layout', 'hidden_states', '--format', 'gguf-control-vector', '--model-hint', 'qwen2', '--layers', '1', '--out', out, '--json');
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout).mapping, [{ row: 1, direction: 1 }]);
  const back = await readBack(out);
  assert.deepEqual([...back.tensors.keys()], ['direction.1']);
  assert.deepEqual(Array.from(back.tensors.get('direction.1')!.data), Array.from(readTensorFile(join(FIX, 'dir_hidden.pt')).entries[0].array.data.subarray(128, 192)));
  const noHint = emlens('export-direction', join(FIX, 'dir_blocks.safetensors'), '--format', 'gguf-control-vector', '--out', join(dir, 'x.gguf'));
  assert.equal(noHint.status, 2);
  assert.match(noHint.stderr, /^emlens: --model-hint: .*dir_blocks\.safetensors records no model/m);
  const badFormat = emlens('export-direction', join(FIX, 'dir_blocks.safetensors'), '--format', 'onnx', '--out', join(dir, 'x.onnx'));
  assert.equal(badFormat.status, 2);
  assert.match(badFormat.stderr, /--format onnx: expected gguf-control-vector, npy, pt-compatible-safetensors/);
  // a [L, d] file with no model to lay it out: the library's options.layout said as the flag
  const noLayout = emlens('export-direction', join(FIX, 'dir_blocks.pt'), '--format', 'npy', '--out', join(dir, 'y.npy'));
  assert.equal(noLayout.status, 2);
  assert.match(noLayout.stderr, /^emlens: .*dir_blocks\.pt: 3 rows, and no model to tell .*; give --vector-layout \(blocks or hidden_states\)$/m);
  assert.ok(!existsSync(join(dir, 'x.gguf')) && !existsSync(join(dir, 'x.onnx')));
  assert.deepEqual(readdirSync(dir), ['cv.gguf']);
  const help = emlens('export-direction', '--help');
  assert.match(help.stdout, /direction\.N to the output of block N \(0-based\): direction\.N = emlens resid_post\(N\)/);
});
