// safetensors reader/writer: dtype round trips, sharded checkpoints, and clear errors on truncated or broken files.
// No tensor axes beyond the shapes written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, truncateSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint, SafetensorsFile, writeSafetensors, floatToBf16, floatToHalf, halfToFloat } from '../../src/model/safetensors.ts';
import { REF_DIR } from '../helpers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'emlens-st-'));

test('F32/F16/BF16/I32/I64 round trip through write and read', () => {
  const dir = tmp();
  const vals = Float32Array.from([0, 1, -2.5, 3.140625, 65504, -0.0001220703125]);
  writeSafetensors(join(dir, 'a.safetensors'), {
    f32: { dtype: 'F32', shape: [2, 3], data: vals },
    f16: { dtype: 'F16', shape: [6], data: vals },
    bf16: { dtype: 'BF16', shape: [3, 2], data: vals },
    i32: { dtype: 'I32', shape: [2], data: Int32Array.from([-7, 123456]) },
    i64: { dtype: 'I64', shape: [2], data: BigInt64Array.from([-3n, 2n ** 40n]) },
  }, { note: 'hi' });
  const f = SafetensorsFile.open(join(dir, 'a.safetensors'));
  assert.deepEqual([...f.readF32('f32')], [...vals]);
  assert.deepEqual([...f.readF32('f16')], [...vals].map((v) => halfToFloat(floatToHalf(v))));
  assert.deepEqual([...f.readF32('bf16')], [...vals].map((v) => new Float32Array(new Uint32Array([floatToBf16(v) << 16]).buffer)[0]));
  assert.deepEqual([...f.readF32('i32')], [-7, 123456]);
  assert.deepEqual([...f.readF32('i64')], [-3, 2 ** 40]);
  assert.deepEqual(f.info('bf16').shape, [3, 2]);
  assert.equal(f.metadata.note, 'hi');
  f.close();
});

test('half and bfloat16 conversions round to nearest even', () => {
  assert.equal(halfToFloat(floatToHalf(1 + 2 ** -11)), 1); // tie → even
  assert.equal(halfToFloat(floatToHalf(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
  assert.equal(floatToBf16(1), 0x3f80);
  assert.equal(halfToFloat(0x7c00), Infinity);
});

test('the reference bf16 checkpoint reads exactly (bf16 widened to f32)', () => {
  const ck = Checkpoint.open(join(REF_DIR, 'qwen2'));
  const info = ck.info('model.embed_tokens.weight');
  assert.equal(info.dtype, 'BF16');
  const w = ck.readF32('model.embed_tokens.weight');
  assert.equal(w.length, info.shape[0] * info.shape[1]);
  // every value is a bf16: its low 16 bits are zero
  const bits = new Uint32Array(w.buffer, w.byteOffset, w.length);
  assert.ok(bits.every((b) => (b & 0xffff) === 0));
  ck.close();
});

test('sharded checkpoints are read through model.safetensors.index.json', () => {
  const dir = tmp();
  writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), { a: { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) } });
  writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), { b: { dtype: 'F32', shape: [1], data: Float32Array.from([3]) } });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }));
  const ck = Checkpoint.open(dir);
  assert.deepEqual([...ck.readF32('a')], [1, 2]);
  assert.deepEqual([...ck.readF32('b')], [3]);
  assert.throws(() => ck.readF32('c'), /missing weight c/);
  ck.close();
});

test('truncated and corrupt files give one clear error naming the file', () => {
  const dir = tmp();
  const p = join(dir, 'model.safetensors');
  copyFileSync(join(REF_DIR, 'qwen2', 'model.safetensors'), p);
  truncateSync(p, 1000);
  assert.throws(() => SafetensorsFile.open(p), (e: Error) => e.message.startsWith(p) && /truncated/.test(e.message));
  writeFileSync(p, Buffer.concat([Buffer.from([10, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{not json!')]));
  assert.throws(() => SafetensorsFile.open(p), /not valid JSON/);
  writeFileSync(p, Buffer.from([1, 2, 3]));
  assert.throws(() => SafetensorsFile.open(p), /too short/);
  assert.throws(() => Checkpoint.open(tmp()), /no model\.safetensors/);
  const len = readFileSync(join(REF_DIR, 'qwen2', 'model.safetensors')).length;
  assert.ok(len > 1000);
});

test('integer model weights (a quantized checkpoint) are refused by name, not widened into floats', async () => {
  const { loadModel } = await import('../../src/model/load.ts');
  const dir = mkdtempSync(join(tmpdir(), 'emlens-int-'));
  copyFileSync(join(REF_DIR, 'qwen2', 'config.json'), join(dir, 'config.json'));
  const src = SafetensorsFile.open(join(REF_DIR, 'qwen2', 'model.safetensors'));
  const tensors: Record<string, { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }> = {};
  for (const [name, info] of src.tensors) {
    const data = src.readF32(name);
    tensors[name] = name.endsWith('layers.0.self_attn.q_proj.weight') ? { dtype: 'I32', shape: info.shape, data: Int32Array.from(data, (x) => Math.round(x * 127)) } : { dtype: 'F32', shape: info.shape, data };
  }
  src.close();
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  assert.throws(() => loadModel(dir), /layers\.0\.self_attn\.q_proj\.weight is I32, a quantized checkpoint/);
});
