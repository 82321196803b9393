// End to end through the CLI with the Python projects' files (fixtures/interop): gates from gating_params.pth, a .pt
// direction ablated and steered as its safetensors twin, compare / extract --like on .pt files (which used to overflow
// the stack), and malformed files: one `emlens:` line naming the file, exit 1, nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { interventionRecord } from '../../src/cli/model-options.ts';
import { useTestBackend } from '../helpers.ts';

const FIX = join(PACKAGE_ROOT, 'fixtures', 'interop');
const QWEN = join(PACKAGE_ROOT, 'fixtures', 'reference', 'qwen2');
const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const IDS = '1,85,91,266,332,201';
const f = (n: string) => join(FIX, n);

function emlens(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const logits = (...args: string[]) => {
  const r = emlens('forward', '--model', QWEN, '--ids', IDS, '--json', ...args);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).logits as number[][][];
};
function oneLineError(r: ReturnType<typeof emlens>, pattern: RegExp, code = 1): void {
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('emlens:'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
}

test('forward --gates gating_params.pth equals the same gates in emlens format; --ablate / --steer with .pt, .npy, .npz equal the safetensors twin', () => {
  const base = logits();
  const gated = logits('--gates', f('gating_params.pth'));
  assert.deepEqual(gated, logits('--gates', f('gates-emlens')));
  assert.notDeepEqual(gated, base);
  assert.deepEqual(logits('--gates', f('gating_params.pth'), '--gate-scale', '-1'), logits('--gates', f('gates-emlens'), '--gate-scale', '-1'));
  // the twin records best layer 1; the .pt has no best layer, so the row is named
  const twin = logits('--ablate', f('dir_blocks.safetensors'));
  assert.notDeepEqual(twin, base);
  assert.deepEqual(logits('--ablate', f('dir_blocks.pt'), '--direction-layer', '1'), twin);
  assert.deepEqual(logits('--ablate', f('dir_hidden.pt'), '--direction-layer', '1'), twin); // [L+1, d]: row 2 of the file
  assert.deepEqual(logits('--ablate', `${f('dirs.npz')}#direction`, '--direction-layer', '1'), twin);
  assert.deepEqual(logits('--steer', `2:4:${f('dir_dict.pt')}`, '--direction-layer', '1'), logits('--steer', `2:4:${f('dir_blocks.safetensors')}`));
  // one vector [d]: the same whatever the row
  assert.deepEqual(logits('--ablate', f('vec_d.pt')), logits('--ablate', f('vec_d.npy')));
});

test('compare and extract --kind random --like take .pt files (they overflowed the stack)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-interop-'));
  const cmp = emlens('compare', f('dir_hidden.pt'), f('dir_blocks.safetensors'), f('vec_d.pt'), '--json');
  assert.equal(cmp.code, 0, cmp.stderr);
  const table = JSON.parse(cmp.stdout);
  assert.deepEqual(table.pairs[0].cosine.map((c: number) => Number(c.toFixed(6))), [1, 1, 1]);
  const out = join(dir, 'random.safetensors');
  const rnd = emlens('extract', '--model', QWEN, '--kind', 'random', '--like', f('dir_hidden.pt'), '--out', out, '--json');
  assert.equal(rnd.code, 0, rnd.stderr);
  assert.equal(JSON.parse(rnd.stdout).norms.length, 3);
});

test('malformed files: unsupported dtype, a Python object, a code-running pickle, an unknown format, a hub id not cached → one line, exit 1, nothing written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-interop-'));
  const out = join(dir, 'r.safetensors');
  oneLineError(emlens('extract', '--model', QWEN, '--kind', 'random', '--like', f('bad_int64.pt'), '--out', out), /bad_int64\.pt: the tensor is int64; emlens reads float32, float16, bfloat16 or float64 tensors/);
  oneLineError(emlens('compare', f('bad_object.pt'), f('dir_blocks.safetensors')), /bad_object\.pt: the pickle refers to datetime\.date, which emlens does not load/);
  oneLineError(emlens('forward', '--model', QWEN, '--ids', IDS, '--ablate', f('bad_global.pt')), /bad_global\.pt: the pickle refers to __builtin__\.print/);
  oneLineError(emlens('forward', '--model', QWEN, '--ids', IDS, '--gates', f('bad_int.npy')), /bad_int\.npy: dtype <i8 is not supported/);
  oneLineError(emlens('forward', '--model', QWEN, '--ids', IDS, '--ablate', f('README.md')), /README\.md: not a tensor file emlens reads; expected .*torch\.save \.pt\/\.pth.*NumPy \.npy or \.npz/);
  oneLineError(emlens('eval', '--model', 'nobody/absent-model', '--out', join(dir, 'e.json')), /--model nobody\/absent-model: folder not found, and not in the Hugging Face cache .*huggingface-cli download nobody\/absent-model/);
  assert.deepEqual(readdirSync(dir), []);
  assert.ok(!existsSync(out));
});

test('a result records how another tool\'s vector file was laid out on the blocks', async () => {
  await useTestBackend();
  const r = interventionRecord({ backend: 'cpu', ablate: f('dir_hidden.pt'), steer: [`1:2:${f('vec_d.npy')}`] }, QWEN);
  assert.deepEqual(Object.keys(r.vector_files as object), [f('vec_d.npy'), f('dir_hidden.pt')]);
  assert.match((r.vector_files as Record<string, string>)[f('dir_hidden.pt')], /\[4, d\] as hidden_states: row 0 \(embedding output\) left out, row l\+1 = emlens resid_post\(l\)/);
  assert.equal(interventionRecord({ backend: 'cpu', ablate: f('dir_blocks.safetensors') }, QWEN).vector_files, undefined); // emlens's own file
});

test('orthogonalize --direction takes a .pt in hidden-states order: the same checkpoint as its safetensors twin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-interop-'));
  const a = emlens('orthogonalize', '--model', QWEN, '--direction', f('dir_hidden.pt'), '--direction-layer', '1', '--out', join(dir, 'a'));
  assert.equal(a.code, 0, a.stderr);
  const b = emlens('orthogonalize', '--model', QWEN, '--direction', f('dir_blocks.safetensors'), '--out', join(dir, 'b'));
  assert.equal(b.code, 0, b.stderr);
  assert.ok(readFileSync(join(dir, 'a', 'model.safetensors')).equals(readFileSync(join(dir, 'b', 'model.safetensors'))));
});
