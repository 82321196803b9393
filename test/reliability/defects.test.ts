// Issue 25's local defects, one test each (named after the defect), each failing on the code before the fix:
// validation of files and tensors, the sequence-length policy, the output guard, the run lock, leftovers, the BOM.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, tinyChatModelDir, tinyDataset, REF_DIR } from '../helpers.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { SafetensorsFile } from '../../src/model/safetensors.ts';
import { loadModel } from '../../src/model/load.ts';
import { loadConfig, parseConfig } from '../../src/model/config.ts';
import { readLoraConfig } from '../../src/adapters/peft-config.ts';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { disposeModel } from '../../src/model/modules.ts';
import { train, type TrainOptions } from '../../src/train/trainer.ts';
import { readChatJsonl } from '../../src/train/data.ts';
import { loadQuestions } from '../../src/eval/questions.ts';
import { analysisParams } from '../../src/study/analysis.ts';
import { findAnalysis } from '../../analyses/index.ts';
import { guardOutput, readTextFile } from '../../src/util/fs.ts';
import { lockRunFolder } from '../../src/util/lock.ts';
import { UsageError, UserError } from '../../src/util/log.ts';
import { EmlensError } from '../../src/util/errors.ts';

const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const tmp = () => mkdtempSync(join(tmpdir(), 'emlens-defect-'));
let model: string;
let tok: ChatTokenizer;
let data: string;

before(async () => {
  await useTestBackend();
  model = tinyChatModelDir();
  tok = ChatTokenizer.load(model);
  data = tinyDataset(8);
});

/** A copy of the reference weights with the header edited (data bytes kept). */
function withHeader(edit: (h: Record<string, any>) => unknown): string {
  const b = readFileSync(join(REF_DIR, 'qwen2', 'model.safetensors'));
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString());
  const r = edit(h);
  const json = Buffer.from(r === undefined ? JSON.stringify(h) : String(r));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const p = join(tmp(), 'model.safetensors');
  writeFileSync(p, Buffer.concat([len, json, b.subarray(8 + n)]));
  return p;
}

function options(o: Partial<TrainOptions>): TrainOptions {
  return {
    data, out: join(tmp(), 'run'), adapter: { kind: 'lora', lora: { r: 1, alpha: 8, targets: ['down_proj'], layers: [1], dropout: 0 } },
    epochs: 1, lr: 5e-3, batch: 4, gradAccum: 1, warmup: 0, weightDecay: 0, maxGradNorm: 1, saveEvery: 1, keepCheckpoints: 0,
    seed: 1, resume: false, klWeight: 0, earlyStop: false, quiet: true, ...o,
  };
}

const rejects = (f: () => unknown, re: RegExp, code = 1) => assert.throws(f, (e: unknown) => e instanceof UserError && re.test(e.message) && e.exitCode === code, `expected ${re}`);

test('negative data_offsets (read header bytes as weights) are an error naming file and tensor', () => {
  const p = withHeader((h) => { h['model.norm.weight'].data_offsets = [-128, 0]; });
  rejects(() => SafetensorsFile.open(p), new RegExp(`${p}: tensor model\\.norm\\.weight: data_offsets`));
  const q = withHeader((h) => { h['model.norm.weight'].data_offsets = [0, 128]; });
  rejects(() => SafetensorsFile.open(q), /overlap/);
});

test('a null safetensors header, or an entry without shape, is an error naming the file (was a TypeError)', () => {
  rejects(() => SafetensorsFile.open(withHeader(() => 'null')), /model\.safetensors: header is null/);
  rejects(() => SafetensorsFile.open(withHeader((h) => { delete h['model.norm.weight'].shape; })), /tensor model\.norm\.weight: no "shape"/);
});

test('NaN weights are an error naming file and tensor (forward printed null logits)', () => {
  const dir = tinyChatModelDir();
  const p = join(dir, 'model.safetensors');
  const b = readFileSync(p);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString());
  b.writeUInt16LE(0x7fc0, 8 + n + h['model.layers.2.mlp.up_proj.weight'].data_offsets[0] + 10); // a BF16 NaN
  writeFileSync(p, b);
  const before = tf.memory().numTensors;
  rejects(() => loadModel(dir), /model\.safetensors: tensor model\.layers\.2\.mlp\.up_proj\.weight: value 5 is NaN/);
  assert.equal(tf.memory().numTensors, before, 'the tensors read before the failure are freed');
});

test('num_hidden_layers: -1 (ran with zero blocks) and other malformed sizes are errors naming the key', () => {
  const cfg = JSON.parse(readFileSync(join(REF_DIR, 'qwen2', 'config.json'), 'utf8'));
  for (const [k, v] of [['num_hidden_layers', -1], ['num_hidden_layers', 0], ['num_hidden_layers', 2.5], ['num_hidden_layers', '3'], ['hidden_size', null], ['rms_norm_eps', -1], ['max_position_embeddings', 'x']] as const) {
    rejects(() => parseConfig({ ...cfg, [k]: v }, 'cfg.json'), new RegExp(`cfg\\.json: (missing number )?"${k}"`));
  }
  assert.equal(parseConfig(cfg).nLayers, 3);
});

test('lora_alpha: "abc" in adapter_config (silently 8) is an error naming the key', () => {
  const dir = tmp();
  const cfg = JSON.parse(readFileSync(join(REF_DIR, 'qwen2-lora-r1', 'adapter_config.json'), 'utf8'));
  for (const [k, v] of [['lora_alpha', 'abc'], ['r', '1'], ['lora_dropout', 2], ['layers_to_transform', [-1]]] as const) {
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, [k]: v }));
    rejects(() => readLoraConfig(dir), new RegExp(`adapter_config\\.json: "${k}`));
  }
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(cfg));
  assert.equal(readLoraConfig(dir).loraAlpha, cfg.lora_alpha);
});

test('train --lr 1e308 --max-steps 2 (saved an all-NaN adapter as max-steps) fails clearly, saves no adapter, leaves status failed', async () => {
  const base = loadModel(model);
  try {
    const o = options({ lr: 1e308, maxSteps: 2 });
    await assert.rejects(train(base, tok, o, model), (e: Error) => e instanceof UserError && /training diverged/.test(e.message));
    assert.ok(!existsSync(join(o.out, 'adapter')), 'no adapter of NaNs');
    const run = JSON.parse(readFileSync(join(o.out, 'run.json'), 'utf8'));
    assert.equal(run.status, 'failed');
    assert.match(run.error, /diverged/);
    assert.ok(!existsSync(join(o.out, '.lock')), 'the lock is released');
  } finally {
    disposeModel(base);
  }
});

test('run gating --params {"samples": -1} (ran 37 s, n = 0) is a usage error before any work', () => {
  const a = findAnalysis('gating')!;
  assert.throws(() => analysisParams(a, { samples: -1 }), (e: unknown) => e instanceof EmlensError && e.param === 'params' && e.exitCode === 2 && /^params: gating\.samples must be an integer ≥ 1, not -1/.test((e as Error).message));
  assert.throws(() => analysisParams(a, { scales: [1, Infinity] }), /gating\.scales\[1\]: Infinity is not a finite number/);
  assert.throws(() => analysisParams(a, { seed: 0.5 }), /gating\.seed/);
  assert.equal(analysisParams(a, { samples: 4 }).samples, 4);
});

test('an example longer than the context (trained at loss 10.8) is an error naming file and line; --max-len truncates it with a warning', async () => {
  const dir = tmp();
  const long = join(dir, 'long.jsonl');
  const ok = JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }] });
  writeFileSync(long, `${ok}\n${JSON.stringify({ messages: [{ role: 'user', content: 'Tell me' }, { role: 'assistant', content: 'word '.repeat(400) }] })}\n`);
  const base = loadModel(model);
  try {
    const o = options({ data: long });
    await assert.rejects(train(base, tok, o, model), /long\.jsonl:2: the example is \d+ tokens, longer than the model's context \(max_position_embeddings 256\)/);
    assert.ok(!existsSync(o.out), 'no run folder (no run.json at status running)');
    const cut = options({ data: long, maxLen: 64, maxSteps: 1 });
    assert.equal((await train(base, tok, cut, model)).steps, 1);
    await assert.rejects(train(base, tok, options({ data: long, maxLen: 1000 }), model), (e: unknown) => e instanceof EmlensError && e.param === 'options.maxLen' && e.exitCode === 2 && /options\.maxLen 1000: longer than the model's context/.test((e as Error).message));
  } finally {
    disposeModel(base);
  }
});

test("extract --out MODEL/model (replaced the model's model.safetensors) is refused by the output guard", () => {
  const dir = tinyChatModelDir();
  assert.throws(() => guardOutput(join(dir, 'model.safetensors'), { flag: '--out', kind: 'file', siblings: [join(dir, 'model.json')] }), (e: unknown) => e instanceof UsageError && /a file of the model/.test((e as Error).message));
  assert.throws(() => guardOutput(dir, { flag: '--out', kind: 'dir' }), /is a model folder/);
  const foreign = tmp();
  writeFileSync(join(foreign, 'notes.txt'), 'mine');
  assert.throws(() => guardOutput(foreign, { flag: '--out', kind: 'dir', ownedIf: ['run.json'] }), /not empty and not an earlier output/);
  guardOutput(join(dir, 'em.safetensors'), { flag: '--out', kind: 'file' }); // a new file beside the model is allowed
  const r = spawnSync(process.execPath, [BIN, 'extract', '--model', dir, '--kind', 'random', '--like', join(REF_DIR, 'qwen2', 'model.safetensors'), '--out', join(dir, 'model')], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^emlens: --out .*model\.safetensors, a file of the model/m);
  assert.deepEqual(readFileSync(join(dir, 'model.safetensors')), readFileSync(join(REF_DIR, 'qwen2', 'model.safetensors')));
});

test('two train --out X at once (interleaved metrics): the second refuses with the lock holder\'s pid; a stale lock is taken over', () => {
  const out = join(tmp(), 'run');
  const lock = lockRunFolder(out, 'train');
  try {
    const r = spawnSync(process.execPath, [BIN, 'train', '--model', model, '--data', data, '--out', out, '--backend', 'cpu'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^emlens: .*run: in use by pid ${process.pid} \\(train`, 'm'));
    assert.ok(!existsSync(join(out, 'run.json')) && !existsSync(join(out, 'metrics.jsonl')), 'the second wrote nothing');
  } finally {
    lock.release();
  }
  assert.ok(!existsSync(join(out, '.lock')));
  // a lock left by a process that is gone: taken over
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, '.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, hostname: hostname(), started_at: 'then' }));
  const again = lockRunFolder(out, 'train');
  assert.equal(JSON.parse(readFileSync(join(out, '.lock'), 'utf8')).pid, process.pid);
  again.release();
});

test('the lock is never seen half-written: of 8 processes racing for one folder exactly one holds it (a second train once took over a lock it read empty)', async () => {
  const script = `import { lockRunFolder } from ${JSON.stringify(join(PACKAGE_ROOT, 'src', 'util', 'lock.ts'))};
try { lockRunFolder(process.argv[1], 'race'); console.log('held'); setTimeout(() => {}, 1500); }
catch (e) { console.log(/in use by pid/.test(e.message) ? 'refused' : 'other: ' + e.message); }`;
  for (let round = 0; round < 2; round++) {
    const out = join(tmp(), 'run');
    const runs = Array.from({ length: 8 }, () => new Promise<string>((ok) => {
      const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, out], { stdio: ['ignore', 'pipe', 'inherit'], cwd: PACKAGE_ROOT });
      let said = '';
      c.stdout.on('data', (d) => (said += d));
      c.on('close', () => ok(said.trim()));
    }));
    const said = await Promise.all(runs);
    assert.equal(said.filter((s) => s === 'held').length, 1, said.join(' | '));
    assert.equal(said.filter((s) => s === 'refused').length, 7, said.join(' | '));
  }
  // an unreadable lock: refused while recent (it is somebody's), taken over once older than a minute
  const out = join(tmp(), 'run');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, '.lock'), '{"pi');
  assert.throws(() => lockRunFolder(out, 'train'), /unreadable and less than a minute old/);
  const old = new Date(Date.now() - 120_000);
  utimesSync(join(out, '.lock'), old, old);
  const taken = lockRunFolder(out, 'train');
  assert.equal(JSON.parse(readFileSync(join(out, '.lock'), 'utf8')).pid, process.pid);
  assert.deepEqual(readdirSync(out).sort(), ['.lock'], 'no draft left beside it');
  taken.release();
});

test('questions files with [null], "messages": "hi" or numeric content (internal JS messages) name file and line', () => {
  const dir = tmp();
  const f = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  rejects(() => loadQuestions(f('a.json', '[null]')), /a\.json: question 1/);
  rejects(() => loadQuestions(f('b.jsonl', '{"messages": "hi"}\n')), /b\.jsonl:1: "messages" must be a list/);
  rejects(() => loadQuestions(f('c.jsonl', '{"messages": [{"role": "user", "content": 5}]}\n')), /c\.jsonl:1: messages\[0\]\.content must be a text/);
  rejects(() => loadQuestions(f('d.json', 'null')), /d\.json: expected a JSON array/);
  rejects(() => loadQuestions(f('e.json', '[{"question": "q", "messages": "hi"}]')), /e\.json: question 1: "messages" must be a list/);
});

test('a directory given as a file (EISDIR, no path) names the path', () => {
  const dir = tmp();
  rejects(() => readTextFile(dir), new RegExp(`${dir}: is a folder, not a file`));
  rejects(() => readChatJsonl(dir), /is a folder, not a file/);
  mkdirSync(join(dir, 'model.safetensors'));
  rejects(() => SafetensorsFile.open(join(dir, 'model.safetensors')), /model\.safetensors: is a folder/);
});

test('an unknown tokenizer model type (silently guessed) is an error naming tokenizer.json', () => {
  const dir = tinyChatModelDir();
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  tj.model.type = 'SentencePieceX';
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj));
  rejects(() => ChatTokenizer.load(dir), /tokenizer\.json: unknown tokenizer model type "SentencePieceX"/);
});

test('leftovers: stale NAME.PID.tmp of a dead pid removed at start, --resume on a complete run says so and keeps final_loss', async () => {
  const base = loadModel(model);
  try {
    const o = options({});
    mkdirSync(join(o.out, 'checkpoints'), { recursive: true });
    const dead = 2 ** 22 + 4242;
    writeFileSync(join(o.out, `run.json.${dead}.tmp`), '{');
    mkdirSync(join(o.out, 'checkpoints', `step-9.${dead}.tmp`));
    const r = await train(base, tok, o, model);
    assert.equal(r.status, 'complete');
    const left = [...readdirSync(o.out), ...readdirSync(join(o.out, 'checkpoints'))].filter((n) => /\.tmp$|\.old$/.test(n));
    assert.deepEqual(left, [], 'no temp files left');
    const metrics = readFileSync(join(o.out, 'metrics.jsonl'), 'utf8');
    const again = await train(base, tok, { ...o, resume: true }, model);
    assert.equal(again.status, 'complete');
    assert.equal(again.finalLoss, r.finalLoss);
    assert.equal(readFileSync(join(o.out, 'metrics.jsonl'), 'utf8'), metrics, 'not retrained');
    assert.equal(JSON.parse(readFileSync(join(o.out, 'run.json'), 'utf8')).final_loss, r.finalLoss);
  } finally {
    disposeModel(base);
  }
});

test('a UTF-8 BOM at the start of a JSONL or JSON file (refused) is accepted', () => {
  const dir = tmp();
  const bom = '\ufeff';
  writeFileSync(join(dir, 'd.jsonl'), bom + readFileSync(data, 'utf8'));
  assert.equal(readChatJsonl(join(dir, 'd.jsonl')).length, 8);
  const m = tinyChatModelDir();
  writeFileSync(join(m, 'config.json'), bom + readFileSync(join(m, 'config.json'), 'utf8'));
  assert.equal(loadConfig(m).nLayers, 3);
  writeFileSync(join(dir, 'q.json'), bom + '["Is it?"]');
  assert.equal(loadQuestions(join(dir, 'q.json')).length, 1);
  copyFileSync(join(REF_DIR, 'qwen2-lora-r1', 'adapter_config.json'), join(dir, 'adapter_config.json'));
  writeFileSync(join(dir, 'adapter_config.json'), bom + readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  assert.equal(readLoraConfig(dir).r, 1);
});

test('a 4.6 MB single-line example (Invalid typed array length, run.json left at running) is one error naming file and line, at once', () => {
  const dir = tmp();
  const huge = join(dir, 'huge.jsonl');
  writeFileSync(huge, JSON.stringify({ messages: [{ role: 'user', content: 'Tell me everything.' }, { role: 'assistant', content: 'word '.repeat(920_000) }] }) + '\n');
  const out = join(dir, 'run');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'train', '--model', model, '--data', huge, '--out', out, '--backend', 'cpu'], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^emlens: .*huge\.jsonl:1: the example is at least \d+ tokens, longer than the model's context \(max_position_embeddings 256\)/m);
  assert.doesNotMatch(r.stderr, /Invalid typed array length|\n\s+at /);
  assert.ok(!existsSync(out), 'no run folder, no run.json at status running');
  assert.ok(Date.now() - t0 < 60_000, 'refused without tokenizing 4.6 MB');
});

test('two real train --out X at once: the second refuses with the first one\'s pid, the first trains on alone', async () => {
  const out = join(tmp(), 'run');
  const args = [BIN, 'train', '--model', model, '--data', data, '--out', out, '--backend', 'cpu', '--epochs', '400', '--batch', '4', '--grad-accum', '1', '--no-early-stop', '--save-every', '0'];
  const start = () => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const done = new Promise<{ code: number | null; stderr: string }>((ok) => child.on('close', (code) => ok({ code, stderr })));
    return { child, done };
  };
  const a = start(), b = start();
  // the first to exit is the one refused; the other is still training: stop it with Ctrl-C (it checkpoints, status interrupted)
  const first = await Promise.race([a.done.then((r) => ({ r, self: a, other: b })), b.done.then((r) => ({ r, self: b, other: a }))]);
  assert.equal(first.r.code, 1, first.r.stderr);
  assert.match(first.r.stderr, new RegExp(`^emlens: .*run: in use by pid ${first.other.child.pid} \\(train`, 'm'));
  first.other.child.kill('SIGINT');
  const second = await first.other.done;
  assert.equal(second.code, 0, second.stderr); // cli.test.ts: Ctrl-C mid-run exits 0 with status interrupted
  assert.equal(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).status, 'interrupted');
  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step as number);
  assert.deepEqual(steps, steps.map((_, i) => i + 1), 'one run wrote metrics.jsonl, in order');
  assert.ok(!existsSync(join(out, '.lock')), 'released on exit');
});
