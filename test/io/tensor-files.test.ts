// Tensors from PyTorch and NumPy (fixtures/interop, made by make_interop.py with real torch.save / np.save): each
// layout and container, dtypes, views, the errors; directions laid out on emlens's layers; Direction.load's recursion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { readTensorFile } from '../../src/io/tensor-file.ts';
import { encodeNpy, parseNpy } from '../../src/io/npy.ts';
import { Direction } from '../../src/directions/direction.ts';
import { UndecidedLayoutError, layOut, readImportedVectors } from '../../src/directions/imported.ts';
import { UserError } from '../../src/util/log.ts';
import { EmlensError } from '../../src/util/errors.ts';

const FIX = join(PACKAGE_ROOT, 'fixtures', 'interop');
const f = (n: string) => join(FIX, n);
const only = (n: string) => {
  const { entries } = readTensorFile(f(n));
  assert.equal(entries.length, 1, n);
  return entries[0].array;
};
const blocks = only('dir_blocks.safetensors'); // the reference [3, 64] float32, written by safetensors from the same tensor

test('torch.save files: bare tensor, dict, list, fp16, bf16 and float64 read as the values torch holds', () => {
  assert.deepEqual(only('dir_blocks.pt').shape, [3, 64]);
  assert.deepEqual(Array.from(only('dir_blocks.pt').data), Array.from(blocks.data));
  assert.deepEqual(Array.from(only('dir_dict.pt').data), Array.from(blocks.data)); // the int and the string beside it are left out
  const list = readTensorFile(f('dir_list.pt')).entries;
  assert.deepEqual(list.map((e) => e.name), ['[0]', '[1]', '[2]']);
  assert.deepEqual(Array.from(list[1].array.data), Array.from(blocks.data.subarray(64, 128)));
  assert.deepEqual(only('vec_d.pt').shape, [64]);
  // half precision: within the format's rounding of the float32 values, and exactly what numpy's float16 holds
  const fp16 = only('dir_fp16.pt'), bf16 = only('dir_bf16.pt');
  assert.equal(fp16.dtype, 'float16');
  assert.equal(bf16.dtype, 'bfloat16');
  assert.deepEqual(Array.from(fp16.data), Array.from(only('dir_blocks_f2.npy').data));
  blocks.data.forEach((x, i) => assert.ok(Math.abs(bf16.data[i] - x) <= Math.abs(x) / 128 + 1e-30, `bf16 ${i}`));
});

test('torch views: a storage offset with a step, and a transpose, read in C order as torch gives them', () => {
  assert.deepEqual(Array.from(only('dir_view.pt').data), Array.from(only('dir_view_expected.npy').data));
  assert.deepEqual(Array.from(only('dir_transposed.pt').data), Array.from(only('dir_transposed_expected.npy').data));
  assert.deepEqual(only('dir_transposed.pt').shape, [3, 64]);
});

test('NumPy: .npy in f2/f4/f8, np.savez and np.savez_compressed', () => {
  assert.deepEqual(Array.from(only('dir_blocks_f8.npy').data), Array.from(blocks.data));
  assert.deepEqual(Array.from(only('vec_d.npy').data), Array.from(only('vec_d.pt').data));
  const npz = readTensorFile(f('dirs.npz')).entries;
  assert.deepEqual(npz.map((e) => e.name).sort(), ['direction', 'other']);
  assert.deepEqual(Array.from(only('dir_compressed.npz').data), Array.from(blocks.data));
  // our writer round-trips through the reader
  const back = parseNpy(encodeNpy([3, 64], blocks.data), 'x.npy');
  assert.deepEqual(back.shape, [3, 64]);
  assert.deepEqual(Array.from(back.data), Array.from(blocks.data));
});

test('unsupported content is one UserError naming the file: int64, a Python object, a global that would run code, garbage', () => {
  assert.throws(() => readTensorFile(f('bad_int64.pt')), (e: Error) => e instanceof UserError && /bad_int64\.pt: the tensor is int64; emlens reads float32, float16, bfloat16 or float64/.test(e.message));
  assert.throws(() => readTensorFile(f('bad_complex.pt')), (e: Error) => e instanceof UserError && /bad_complex\.pt: the tensor is complex64/.test(e.message));
  assert.throws(() => readTensorFile(f('bad_int.npy')), (e: Error) => e instanceof UserError && /bad_int\.npy: dtype <i8 is not supported/.test(e.message));
  assert.throws(() => readTensorFile(f('bad_object.pt')), (e: Error) => e instanceof UserError && /bad_object\.pt: the pickle refers to datetime\.date, which emlens does not load/.test(e.message));
  assert.throws(() => readTensorFile(f('bad_global.pt')), (e: Error) => e instanceof UserError && /bad_global\.pt: the pickle refers to __builtin__\.print/.test(e.message));
  const dir = mkdtempSync(join(tmpdir(), 'emlens-io-'));
  writeFileSync(join(dir, 'x.pt'), 'not a tensor file');
  assert.throws(() => readTensorFile(join(dir, 'x.pt')), (e: Error) => e instanceof UserError && /x\.pt: not a tensor file emlens reads; expected .*torch\.save .*\.npy/.test(e.message));
  const truncated = join(dir, 't.pt');
  writeFileSync(truncated, readFileSync(f('dir_blocks.pt')).subarray(0, 900));
  assert.throws(() => readTensorFile(truncated), (e: Error) => e instanceof UserError && /t\.pt: /.test(e.message));
});

test('layouts: [d] is one vector, [L, d] blocks, [L+1, d] hidden states with row 0 (embeddings) dropped; inferred from the layers', () => {
  const hidden = layOut(readImportedVectors(f('dir_hidden.pt')), { nLayers: 3 });
  assert.equal(hidden.layout, 'hidden_states');
  hidden.vectors.forEach((v, l) => assert.deepEqual(Array.from(v), Array.from(blocks.data.subarray(l * 64, (l + 1) * 64))));
  assert.equal(layOut(readImportedVectors(f('dir_blocks.pt')), { nLayers: 3 }).layout, 'blocks');
  assert.equal(layOut(readImportedVectors(f('vec_d.pt')), { nLayers: 3 }).layout, 'one-vector');
  // a list of vectors is stacked into rows
  assert.deepEqual(readImportedVectors(f('dir_list.pt')).shape, [3, 64]);
  // an explicit layout that does not fit, a row count that fits neither, no model to tell: errors that say which
  // (a library message names the option, options.layout; the CLI says --vector-layout, below)
  assert.throws(() => layOut(readImportedVectors(f('dir_hidden.pt')), { nLayers: 3, layout: 'blocks' }), (e: Error) => e instanceof EmlensError && e.param === 'options.layout' && /options\.layout blocks needs 3 rows .* the file has 4/.test(e.message) && !/--/.test(e.message));
  assert.throws(() => layOut(readImportedVectors(f('dir_hidden.pt')), { nLayers: 5 }), /4 rows, the model has 5 layers: expected 5 .* or 6/);
  assert.throws(() => layOut(readImportedVectors(f('dir_blocks.pt')), {}), (e: Error) => e instanceof UndecidedLayoutError && e.exitCode === 2 && /give options\.layout \(blocks or hidden_states\)/.test(e.message));
  // an .npz of several arrays: FILE#KEY picks one, else the error lists them
  assert.throws(() => readImportedVectors(f('dirs.npz')), /holds 2 tensors .*direction \[3,64\].*name one as .*dirs\.npz#KEY/);
  assert.deepEqual(readImportedVectors(`${f('dirs.npz')}#other`).shape, [64]);
});

test('Direction.load reads .pt/.npy with the layout in its provenance, and no longer recurses on a non-.safetensors file', () => {
  const d = Direction.load(f('dir_hidden.pt'), { nLayers: 3 });
  assert.equal(d.nLayers, 3);
  assert.equal(d.provenance.kind, 'imported');
  assert.equal((d.provenance.details as { layout: string }).layout, 'hidden_states');
  assert.match(d.provenance.notes!, /row 0 \(embedding output\) left out, row l\+1 = emlens resid_post\(l\)/);
  const twin = Direction.load(f('dir_blocks.safetensors'));
  assert.equal(twin.provenance.kind, 'imported'); // the native twin, read through its metadata
  assert.equal(twin.provenance.best_layer, 1);
  assert.deepEqual(d.cosine(twin).map((c) => Number(c!.toFixed(6))), [1, 1, 1]);
  const one = Direction.load(f('vec_d.npy'), { nLayers: 3 });
  assert.equal(one.nLayers, 3);
  assert.equal(one.provenance.best_layer, 0);
  // the old crash: a file that is neither .safetensors nor .json recursed until the stack overflowed
  const dir = mkdtempSync(join(tmpdir(), 'emlens-io-'));
  const junk = join(dir, 'junk.pt');
  writeFileSync(junk, 'PK-not-really');
  assert.throws(() => Direction.load(junk), (e: Error) => e instanceof UserError && /junk\.pt: /.test(e.message) && !/call stack/.test(e.message));
  const csv = join(dir, 'x.csv');
  writeFileSync(csv, '1,2,3\n');
  assert.throws(() => Direction.load(csv), (e: Error) => e instanceof UserError && /x\.csv: not a tensor file emlens reads; expected an emlens direction \.safetensors/.test(e.message));
  // a sidecar .json still names its safetensors twin
  copyFileSync(f('dir_blocks.safetensors'), join(dir, 'd.safetensors'));
  writeFileSync(join(dir, 'd.json'), '{}');
  assert.equal(Direction.load(join(dir, 'd.json')).nLayers, 3);
});
