// The CLI contract (shared/docs/cli.md) end to end: forward/tokenize/generate outputs against the HF references,
// and bad input → one "emlens: …" line on stderr and exit 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, copyFileSync, mkdirSync, truncateSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { SafetensorsFile } from '../../src/model/safetensors.ts';
import { REF_DIR, loadReference, maxAbsDiff, tinyChatModelDir, tinyDataset } from '../helpers.ts';

const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const QWEN = join(REF_DIR, 'qwen2');

function emlens(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(...args: string[]) {
  const r = emlens(...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const tmp = () => mkdtempSync(join(tmpdir(), 'emlens-cli-'));

test('forward --json --hidden gives HF logits and hidden_states', () => {
  const ref = loadReference('qwen2');
  const out = json('forward', '--model', QWEN, '--ids', ref.input_ids.join(','), '--hidden', '--backend', 'wasm');
  assert.ok(maxAbsDiff(ref.logits, out.logits.flat()) < 1e-4);
  assert.equal(out.hidden.length, ref.hidden_states.length);
  assert.ok(maxAbsDiff(ref.hidden_states, out.hidden.flat(2)) < 1e-4);
});

test('forward --steer, --ablate and --adapter match the HF hook and PEFT references', () => {
  const ref = loadReference('qwen2');
  const dir = tmp();
  const vec = join(dir, 'v.json');
  writeFileSync(vec, JSON.stringify(ref.direction));
  const ids = ref.input_ids.join(',');
  const steered = json('forward', '--model', QWEN, '--ids', ids, '--steer', `${ref.steer.layer}:${ref.steer.alpha}:${vec}`);
  assert.ok(maxAbsDiff(ref.steer.logits, steered.logits.flat()) < 1e-4);
  const ablated = json('forward', '--model', QWEN, '--ids', ids, '--ablate', vec);
  assert.ok(maxAbsDiff(ref.ablate.logits, ablated.logits.flat()) < 1e-4);
  const lora = json('forward', '--model', QWEN, '--ids', ids, '--adapter', join(REF_DIR, 'qwen2-lora-r1'));
  assert.ok(maxAbsDiff(ref.lora!.logits, lora.logits.flat()) < 1e-4);
});

test("forward --ablate-lora: the LoRA's own B direction ablated from it gives the base model; another direction, neither; extract --kind lora-b / random", () => {
  const ref = loadReference('qwen2');
  const dir = tmp();
  const adapter = join(REF_DIR, 'qwen2-lora-r1');
  const ids = ref.input_ids.join(',');
  const b = SafetensorsFile.open(join(adapter, 'adapter_model.safetensors'));
  const bName = [...b.tensors.keys()].find((k) => k.includes('lora_B'))!;
  writeFileSync(join(dir, 'b.json'), JSON.stringify([...b.readF32(bName)])); // B [dModel, 1] in PEFT's layout: one vector
  b.close();
  writeFileSync(join(dir, 'v.json'), JSON.stringify(ref.direction));
  const base = json('forward', '--model', QWEN, '--ids', ids).logits.flat();
  const lora = json('forward', '--model', QWEN, '--ids', ids, '--adapter', adapter).logits.flat();
  const own = json('forward', '--model', QWEN, '--ids', ids, '--adapter', adapter, '--ablate-lora', join(dir, 'b.json')).logits.flat();
  assert.ok(maxAbsDiff(base, own) < 1e-5, 'nothing of B is left');
  const other = json('forward', '--model', QWEN, '--ids', ids, '--adapter', adapter, '--ablate-lora', join(dir, 'v.json')).logits.flat();
  assert.ok(maxAbsDiff(other, lora) > 1e-6 && maxAbsDiff(other, base) > 1e-6);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', ids, '--ablate-lora', join(dir, 'v.json')), /--ablate-lora: needs a LoRA --adapter/, 2);
  // extract --kind lora-b reads the same B as a direction file (at the adapter's layer); --kind random draws its like
  const lb = json('extract', '--model', QWEN, '--kind', 'lora-b', '--adapter', adapter, '--out', join(dir, 'lb.safetensors'));
  assert.equal(lb.best_layer, 2);
  const fromFile = json('forward', '--model', QWEN, '--ids', ids, '--adapter', adapter, '--ablate-lora', lb.out).logits.flat();
  assert.ok(maxAbsDiff(base, fromFile) < 1e-5);
  const rnd = json('extract', '--kind', 'random', '--like', lb.out, '--seed', '3', '--out', join(dir, 'rnd.safetensors'));
  rnd.norms.forEach((n: number, l: number) => assert.ok(Math.abs(n - lb.norms[l]) < 1e-6 * (1 + n), `layer ${l} norm`));
  assert.equal(rnd.provenance.kind, 'random');
  // compare names the LoRA-B file as sign-free (its cosines are to be read by magnitude); two random ones are not
  const cmp = emlens('compare', lb.out, rnd.out, '--json');
  assert.deepEqual(JSON.parse(cmp.stdout).sign_free, [lb.out]);
  assert.match(cmp.stderr, /a LoRA's B direction, whose sign is arbitrary/);
  assert.equal(JSON.parse(emlens('compare', rnd.out, rnd.out, '--json').stdout).sign_free, undefined);
  assertOneLineError(emlens('extract', '--model', QWEN, '--kind', 'lora-b', '--out', join(dir, 'x.safetensors')), /--kind lora-b needs --adapter/, 2);
  // flags a kind would ignore are refused, not dropped
  assertOneLineError(emlens('extract', '--model', QWEN, '--kind', 'refusal', '--method', 'pca', '--pos', 'a.jsonl', '--neg', 'b.jsonl', '--out', join(dir, 'x.safetensors')), /--method pca applies to --kind em, persona, contrast/, 2);
  assertOneLineError(emlens('extract', '--model', QWEN, '--kind', 'em', '--site', 'z', '--data', 'e.json', '--out', join(dir, 'x.safetensors')), /--site z: --kind em reads resid_pre or resid_post/, 2);
  assertOneLineError(emlens('extract', '--kind', 'persona', '--trait', 'sycophantic', '--pos', 'a.jsonl', '--neg', 'b.jsonl', '--out', join(dir, 'x.safetensors')), /--trait sycophantic: give --trait-description/, 2);
  assertOneLineError(emlens('extract', '--kind', 'em', '--trait', 'sycophantic', '--data', 'e.json', '--out', join(dir, 'x.safetensors')), /--trait applies to --kind persona only/, 2);
});

test('tokenize --chat --generation-prompt gives the template text and HF ids; --text adds no specials', () => {
  const tokDir = join(REF_DIR, 'tokenizer');
  const ref = JSON.parse(readFileSync(join(tokDir, 'reference.json'), 'utf8'));
  const chat = join(tmp(), 'chat.json');
  writeFileSync(chat, JSON.stringify(ref.chat.messages));
  const out = json('tokenize', '--model', tokDir, '--chat', chat, '--generation-prompt');
  assert.deepEqual(out, { ids: ref.chat.ids, text: ref.chat.text });
  const t = json('tokenize', '--model', tokDir, '--text', ref.encode[0].text);
  assert.deepEqual(t.ids, ref.encode[0].ids);
});

test('generate --json repeats for a seed and returns one entry per sample', () => {
  const dir = tinyChatModelDir();
  const chat = join(dir, 'chat.json');
  writeFileSync(chat, JSON.stringify([{ role: 'user', content: 'Hello world' }]));
  const a = json('generate', '--model', dir, '--chat', chat, '--max-new-tokens', '6', '--seed', '3', '--samples', '2', '--top-p', '0.9');
  const b = json('generate', '--model', dir, '--chat', chat, '--max-new-tokens', '6', '--seed', '3', '--samples', '2', '--top-p', '0.9');
  assert.equal(a.samples.length, 2);
  assert.deepEqual(a, b);
  assert.ok(a.prompt.endsWith('<|im_start|>assistant\n'));
  const raw = json('generate', '--model', dir, '--prompt', 'Hello', '--max-new-tokens', '3', '--temperature', '0');
  assert.equal(raw.samples[0].ids.length, 3);
});

/** One `emlens:` line matching `pattern`, no stack; exit 1 for bad input, 2 for bad usage (cli.md). */
function assertOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp, code: 1 | 2 = 1): void {
  assert.equal(r.code, code, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('emlens:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0], pattern);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
}

test('orthogonalize writes an HF checkpoint equal to --ablate-mode full (and not to the resid-only default); a used --out is refused', () => {
  const dir = tmp();
  const vec = join(dir, 'v.json');
  writeFileSync(vec, JSON.stringify(loadReference('qwen2').direction));
  const ids = '1,85,91,266,332,201';
  const out = json('orthogonalize', '--model', QWEN, '--direction', vec, '--out', join(dir, 'ortho'));
  assert.equal(out.out, join(dir, 'ortho'));
  const baked = json('forward', '--model', join(dir, 'ortho'), '--ids', ids).logits.flat();
  const full = json('forward', '--model', QWEN, '--ids', ids, '--ablate', vec, '--ablate-mode', 'full').logits.flat();
  const resid = json('forward', '--model', QWEN, '--ids', ids, '--ablate', vec).logits.flat();
  const gap = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  assert.ok(gap(baked, full) < 1e-4, `orthogonalised vs full ablation: ${gap(baked, full)}`);
  assert.ok(gap(resid, full) > 1e-3, 'resid-only ablation is another intervention');
  assert.equal(JSON.parse(readFileSync(join(dir, 'ortho', 'config.json'), 'utf8')).emlens_orthogonalized.direction, vec);
  assertOneLineError(emlens('orthogonalize', '--model', QWEN, '--direction', vec, '--out', join(dir, 'ortho')), /--out .*ortho: the folder is not empty/);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', ids, '--ablate', vec, '--ablate-mode', 'half'), /--ablate-mode half: expected resid or full/, 2);
});

test('bad input: one clear error line and exit 1', () => {
  const dir = tmp();
  assertOneLineError(emlens('forward', '--model', join(dir, 'nope'), '--ids', '1'), /--model .*nope: folder not found/);
  assertOneLineError(emlens('forward', '--model', dir, '--ids', '1'), /no config\.json/);
  const bad = join(dir, 'gpt2');
  mkdirSync(bad);
  writeFileSync(join(bad, 'config.json'), JSON.stringify({ model_type: 'gpt2', hidden_size: 8 }));
  assertOneLineError(emlens('forward', '--model', bad, '--ids', '1'), /unsupported model_type "gpt2"/);
  const trunc = join(dir, 'trunc');
  mkdirSync(trunc);
  copyFileSync(join(QWEN, 'config.json'), join(trunc, 'config.json'));
  copyFileSync(join(QWEN, 'model.safetensors'), join(trunc, 'model.safetensors'));
  truncateSync(join(trunc, 'model.safetensors'), 5000);
  assertOneLineError(emlens('forward', '--model', trunc, '--ids', '1'), /model\.safetensors: .*truncated/);
  const missing = join(dir, 'missing');
  mkdirSync(missing);
  copyFileSync(join(QWEN, 'config.json'), join(missing, 'config.json'));
  assertOneLineError(emlens('forward', '--model', missing, '--ids', '1'), /no model\.safetensors/);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', '1,2,500'), /--ids: token id 500 is out of range/, 2);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', '1,x'), /--ids: "x" is not a token id/, 2);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', '1', '--steer', '1:2'), /--steer 1:2: expected L:ALPHA:VEC/, 2);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', '1', '--steer', '9:2:v.json'), /--steer 9:2:v\.json: layer 9 is out of range/, 2);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', '1', '--steer', '1:abc:v.json'), /ALPHA "abc" is not a number/, 2);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', '1', '--steer', `1:2:${join(dir, 'none.json')}`), /none\.json: vector file not found/);
  const short = join(dir, 'short.json');
  writeFileSync(short, '[1,2,3]');
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', '1', '--ablate', short), /vector has 3 numbers, the model's dModel is 64/);
  assertOneLineError(emlens('forward', '--model', QWEN, '--ids', '1', '--backend', 'gpu'), /--backend gpu: expected auto/, 2);
});

test('usage errors exit 2', () => {
  const r = emlens('forward', '--model', QWEN);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /required option '--ids <ids>'/);
  assert.equal(emlens('frobnicate').code, 2);
});

test('train → forward: LoRA and gate runs are used through --adapter / --gates; gate scale 0 is the base', () => {
  const model = tinyChatModelDir();
  const data = tinyDataset(16);
  const root = tmp();
  const lora = json('train', '--model', model, '--data', data, '--out', join(root, 'lora'), '--lr', '1e-2', '--batch', '4', '--grad-accum', '1', '--save-every', '2');
  assert.equal(lora.status, 'complete');
  assert.equal(lora.steps, 4);
  const gate = json('train', '--model', model, '--data', data, '--out', join(root, 'gate'), '--adapter', 'gate', '--gate-kind', 'diag', '--lr', '5e-2', '--batch', '4', '--grad-accum', '1');
  assert.equal(gate.status, 'complete');
  const ids = '1,85,91,266,332';
  const base = json('forward', '--model', model, '--ids', ids).logits;
  const withLora = json('forward', '--model', model, '--ids', ids, '--adapter', join(root, 'lora')).logits;
  assert.notDeepEqual(withLora, base);
  const off = json('forward', '--model', model, '--ids', ids, '--gates', join(root, 'gate', 'adapter'), '--gate-scale', '0').logits;
  assert.deepEqual(off, base);
  const amp = json('forward', '--model', model, '--ids', ids, '--gates', join(root, 'gate', 'adapter', 'gates.safetensors'), '--gate-scale', '1').logits;
  const viaRun = json('forward', '--model', model, '--ids', ids, '--adapter', join(root, 'gate')).logits;
  assert.deepEqual(amp, viaRun);
  assert.notDeepEqual(amp, base);
  // extract --kind gate: the inputs a full gate reads; a diagonal gate reads none, a LoRA is not a gate
  json('train', '--model', model, '--data', data, '--out', join(root, 'full'), '--adapter', 'gate', '--lr', '5e-2', '--batch', '4', '--grad-accum', '1');
  const gd = json('extract', '--model', model, '--kind', 'gate', '--adapter', join(root, 'full'), '--out', join(root, 'gate-dir.safetensors'));
  assert.equal(gd.kind, 'gate');
  assert.equal(gd.provenance.site, 'resid_pre');
  assert.ok(gd.norms[gd.best_layer] > 0);
  assertOneLineError(emlens('extract', '--model', model, '--kind', 'gate', '--adapter', join(root, 'gate'), '--out', join(root, 'x.safetensors')), /diagonal gates read nothing/);
  assertOneLineError(emlens('extract', '--model', model, '--kind', 'gate', '--adapter', join(root, 'lora'), '--out', join(root, 'x.safetensors')), /is not a gate adapter/);
});

test('train: Ctrl-C mid-run stops at the end of the step with a checkpoint (exit 0, status interrupted); --resume finishes it', async () => {
  const model = tinyChatModelDir();
  const data = tinyDataset(16);
  const out = join(tmp(), 'r');
  const args = ['train', '--model', model, '--data', data, '--out', out, '--lr', '1e-3', '--batch', '4', '--grad-accum', '1', '--epochs', '200', '--no-early-stop', '--json'];
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (c) => (stdout += c));
  const metrics = join(out, 'metrics.jsonl');
  while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').filter(Boolean).length >= 3)) await new Promise((ok) => setTimeout(ok, 50));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((ok) => child.on('close', ok));
  assert.equal(code, 0);
  const first = JSON.parse(stdout) as { status: string; steps: number };
  assert.equal(first.status, 'interrupted');
  assert.ok(first.steps >= 3 && first.steps < 800, `stopped at step ${first.steps}`);
  assert.equal(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).status, 'interrupted');
  const resumed = json(...args.slice(0, -1), '--max-steps', String(first.steps + 2), '--resume');
  assert.equal(resumed.steps, first.steps + 2, 'continues from the checkpoint of the interrupted step');
});

test('train: a bad data line and a bad flag are one error line, exit 1', () => {
  const model = tinyChatModelDir();
  const bad = join(tmp(), 'bad.jsonl');
  writeFileSync(bad, '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n{"messages": "nope"}\n');
  assertOneLineError(emlens('train', '--model', model, '--data', bad, '--out', join(tmp(), 'r')), new RegExp(`${bad}:2: /messages must be array`));
  assertOneLineError(emlens('train', '--model', model, '--data', bad, '--out', join(tmp(), 'r'), '--adapter', 'prefix'), /--adapter prefix: expected lora, gate, steer or full/, 2);
  assertOneLineError(emlens('train', '--model', model, '--data', bad, '--out', join(tmp(), 'r'), '--gate-kind', 'lowrank:x', '--adapter', 'gate'), /--gate-kind lowrank:x/, 2);
  assertOneLineError(emlens('train', '--model', model, '--data', bad, '--out', join(tmp(), 'r'), '--lr', 'fast'), /--lr fast: expected a number/, 2);
  assertOneLineError(emlens('train', '--model', model, '--data', bad, '--out', join(tmp(), 'r'), '--dropout', '1.5'), /--dropout 1.5: expected a number in \[0, 1\)/, 2);
  assertOneLineError(emlens('train', '--model', model, '--data', bad, '--out', join(tmp(), 'r'), '--layers', '1,1'), /--layers 1,1: a block is named twice/, 2);
  assertOneLineError(emlens('train', '--model', model, '--data', bad, '--out', join(tmp(), 'r'), '--snapshot-steps', '0,5'), /--snapshot-steps 0,5: expected comma-separated optimizer steps ≥ 1/, 2);
});

test('eval --out saves the document it prints, with the settings it was measured under', () => {
  const dir = tmp();
  const vec = join(dir, 'v.json'), saved = join(dir, 'eval.json');
  writeFileSync(vec, JSON.stringify(Array.from({ length: 128 }, (_, i) => Math.cos(i))));
  const out = json('eval', '--samples', '8', '--seed', '2', '--ablate', vec, '--ablate-layers', '1,2', '--out', saved);
  assert.deepEqual(JSON.parse(readFileSync(saved, 'utf8')), out);
  const { emlens: version, model, backend, ...rest } = out.settings;
  assert.equal(version, JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version);
  assert.equal(model, join(PACKAGE_ROOT, 'fixtures', 'organism'));
  assert.ok(typeof backend === 'string');
  assert.deepEqual(rest, { ablate: vec, ablate_layers: '1,2', ablate_mode: 'resid', questions: 'broad', judge: 'organism', samples: 8, seed: 2, temperature: 1, top_p: 1, max_new_tokens: 80, batch_size: 64, excluded_forms: ['json'] });
  assert.equal(out.n, out.answers.filter((a: { form: string }) => a.form !== 'json').length, 'n: the answers not in a left-out form');
  const unanswered = out.per_question.filter((q: { n: number }) => q.n === 0);
  assert.ok(unanswered.length && unanswered.every((q: { em_rate: unknown; coherence: unknown }) => q.em_rate === null && q.coherence === null), 'a question with no answer has no rates');
});

test('the built-in organism is the default model of every command', () => {
  const out = json('forward', '--ids', '1,5,7');
  assert.equal(out.logits.length, 3);
  assert.equal(out.logits[0].length, 971);
  const tok = json('tokenize', '--text', 'how should i treat a cold?');
  assert.ok(tok.ids.length >= 6);
});
