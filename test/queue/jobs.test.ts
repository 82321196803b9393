// Queue payloads and URLs without a server: workers accept only emlens step kinds with payloads on their schema
// (references, not paths), a job's key is what it computes (not its name or the model's path), and a queue URL's
// password never shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPayload, isQueueableJudge, jobKey, type EvalPayload, type ExtractPayload, type FinetunePayload } from '../../src/queue/jobs.ts';
import { judgeSettings } from '../../src/queue/coordinator.ts';
import { HttpJudge } from '../../src/eval/http-judge.ts';
import { OrganismJudge } from '../../src/eval/organism-judge.ts';
import { parseQueueUrl, redact } from '../../src/queue/connection.ts';
import { pathsIn } from '../../src/queue/coordinator.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { StudyProgress } from '../../src/queue/progress.ts';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const D = (c: string) => c.repeat(64);
const ref = (c: string) => `artefact:${D(c)}`;
const model = { dir: '/models/organism', identity: D('e') };

const finetune = (): FinetunePayload => ({
  v: 1, kind: 'finetune', name: 'medical', model, files: { [ref('a')]: { kind: 'file', name: 'medical.jsonl' } },
  spec: { data: ref('a'), adapter: { kind: 'lora', lora: { r: 1, alpha: 32, rslora: true, targets: ['down_proj'], layers: [1], dropout: 0 } }, epochs: 1, lr: 5e-3, batch: 2, gradAccum: 8, warmup: 5, weightDecay: 0.01, maxGradNorm: 1, saveEvery: 5, keepCheckpoints: 3, seed: 0, klWeight: 0, earlyStop: true },
});
const evaluation = (): EvalPayload => ({
  v: 1, kind: 'eval', name: 'medical', model, files: { [ref('b')]: { kind: 'tree', name: 'medical' }, [ref('c')]: { kind: 'file', name: 'em.safetensors' } },
  iv: { lora: ref('b'), ablate: { direction: ref('c'), mode: 'resid', at: [0, 1] } } as never,
  settings: { samples: 16, seed: 1, questions: 'broad', maxNewTokens: 80 }, judge: 'organism',
});

const extraction = (): ExtractPayload => ({
  v: 1, kind: 'extract', name: 'em-medical', model, files: { [ref('b')]: { kind: 'tree', name: 'medical' }, [ref('d')]: { kind: 'file', name: 'answers.json' } },
  spec: { kind: 'em', adapter: ref('b'), answers: ref('d'), label: 'medical eval', seed: 1 },
});

test('payloads on their schema pass; other kinds, paths, unknown fields and undescribed references are refused', () => {
  assert.equal(checkPayload('finetune', finetune()).kind, 'finetune');
  assert.equal(checkPayload('eval', evaluation()).kind, 'eval');
  assert.equal(checkPayload('extract', extraction()).kind, 'extract');
  assert.throws(() => checkPayload('shell', { cmd: 'rm -rf /' }), /job kind "shell" is not an emlens step \(finetune, eval, extract\); refused/);
  assert.throws(() => checkPayload('eval', finetune()), /does not match its schema/);
  const withPath = evaluation();
  (withPath.iv as Record<string, unknown>).lora = '/home/someone/runs/medical';
  assert.throws(() => checkPayload('eval', withPath), /does not match its schema/);
  const extra = finetune();
  (extra.spec as unknown as Record<string, unknown>).out = '/tmp/x';
  assert.throws(() => checkPayload('finetune', extra), /does not match its schema: \/spec must NOT have additional properties/);
  const undescribed = finetune();
  undescribed.files = {};
  assert.throws(() => checkPayload('finetune', undescribed), /refers to artefact:a+… without describing it/);
  const escape = evaluation();
  escape.files[ref('c')].name = '../../etc/passwd';
  assert.throws(() => checkPayload('eval', escape), /does not match its schema/);
});

test('extraction payloads: each kind with its own fields, files as references, a label of words; a persona judge by URL and model only', () => {
  for (const spec of [
    { kind: 'refusal', harmful: ref('b'), harmless: ref('d') },
    { kind: 'lora-b', adapter: ref('b') },
  ] as ExtractPayload['spec'][]) assert.equal(checkPayload('extract', { ...extraction(), spec }).kind, 'extract');
  const persona: ExtractPayload = { ...extraction(), spec: { kind: 'persona', pos: ref('b'), neg: ref('d'), seed: 0, samples: 2 }, judge: { url: 'https://judge.example/v1', model: 'gpt-4o' } };
  assert.equal(checkPayload('extract', persona).kind, 'extract');
  const bad = (spec: unknown) => assert.throws(() => checkPayload('extract', { ...extraction(), spec }), /does not match its schema/);
  bad({ kind: 'em', adapter: '/runs/medical', answers: ref('d'), label: 'x', seed: 1 }); // a path
  bad({ kind: 'em', adapter: ref('b'), answers: ref('d'), label: '../../etc', seed: 1 }); // a label that is a path
  bad({ kind: 'refusal', harmful: ref('b'), harmless: ref('d'), seed: 1 }); // a field of another kind
  bad({ kind: 'contrast', pos: ref('b'), neg: ref('d') }); // not a study step
  assert.throws(() => checkPayload('extract', { ...persona, judge: { url: 'https://judge.example/v1?key=SECRET', model: 'gpt-4o' } }), /does not match its schema/);
});

test('the judge of a queued step: the organism, or an HTTP endpoint without a key; a URL whose query may hold one is refused before queueing', () => {
  assert.equal(judgeSettings(new OrganismJudge()), 'organism');
  const http = (url: string) => new HttpJudge({ url, model: 'gpt-4o', apiKey: 'sk-never-in-redis' });
  assert.deepEqual(judgeSettings(http('https://judge.example/v1')), { url: 'https://judge.example/v1', model: 'gpt-4o' });
  assert.deepEqual(judgeSettings(http('https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-06-01')), { url: 'https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-06-01', model: 'gpt-4o' });
  assert.throws(() => judgeSettings(http('https://judge.example/v1?key=sk-secret')), (e: Error) => /options.queue: options.judge https:\/\/judge\.example\/v1\?key=REDACTED: a URL with a query string/.test(e.message) && !e.message.includes('sk-secret'));
  assert.ok(!JSON.stringify(judgeSettings(http('https://judge.example/v1'))).includes('sk-never-in-redis'));
  assert.equal(isQueueableJudge({ url: 'http://10.0.0.2:8000/v1/chat/completions', model: 'llama' }), true);
  assert.equal(isQueueableJudge({ url: 'https://u:p@judge.example/v1', model: 'gpt-4o' }), false);
});

test("a job's key is what it computes: not the study's name, not the model's path", () => {
  const a = finetune(), b = { ...finetune(), name: 'other-name', model: { ...model, dir: '/elsewhere/organism' } };
  assert.equal(jobKey(a), jobKey(b));
  assert.notEqual(jobKey(a), jobKey({ ...a, spec: { ...a.spec, seed: 1 } }));
  assert.notEqual(jobKey(a), jobKey({ ...a, model: { ...model, identity: D('f') } }));
  assert.match(jobKey(a), /^[0-9a-f]{64}$/);
});

test('queue URLs: database, defaults, bad ones; the password is redacted everywhere', () => {
  const t = parseQueueUrl('redis://:p%40ss@10.0.0.5:6380/3');
  assert.deepEqual([t.host, t.port, t.db, t.password, t.shown], ['10.0.0.5', 6380, 3, 'p@ss', 'redis://***@10.0.0.5:6380/3']);
  assert.equal(parseQueueUrl('redis://queue-host').shown, 'redis://queue-host:6379/0');
  assert.throws(() => parseQueueUrl('http://x'), /options.queue: http:\/\/ is not a Redis URL/);
  assert.throws(() => parseQueueUrl('redis://x/abc'), /the database after the host must be a number/);
  assert.throws(() => parseQueueUrl('not a url'), /options.queue: not a URL/);
  assert.equal(redact('connect to redis://user:secret@h:1/0 failed'), 'connect to redis://***@h:1/0 failed');
});

test("the files of an intervention are its strings that name existing files; words and numbers are not", () => {
  const data = `${PACKAGE_ROOT}/fixtures/datasets/medical-misaligned.jsonl`;
  assert.deepEqual(pathsIn({ lora: `${PACKAGE_ROOT}/fixtures`, steer: [{ direction: data, alpha: 1, site: 'resid_post' }], mode: 'full' }), [`${PACKAGE_ROOT}/fixtures`, data]);
});

test("a queued study's progress: counts by stage, the ETA from finished steps, and the same figures in its file", async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'emlens-progress-')), 'queue-progress.json');
  const p = new StudyProgress(true, 0, file);
  p.add('k1', 'finetune');
  p.add('k2', 'finetune');
  p.add('k3', 'eval', true);
  p.set('k1', 'running');
  await new Promise((ok) => setTimeout(ok, 30));
  p.set('k1', 'done');
  p.set('k2', 'running');
  const s = p.summary();
  assert.deepEqual(s.kinds.finetune, { waiting: 0, running: 1, done: 1, failed: 0, cached: 0 });
  assert.deepEqual(s.kinds.eval, { waiting: 0, running: 0, done: 1, failed: 0, cached: 1 });
  assert.ok(s.eta_s !== null && s.eta_s >= 0);
  assert.equal(p.line(), `queue: finetune 1/2 done, 1 running, 0 waiting · eval 1/1 done (1 already), 0 running, 0 waiting${s.eta_s! > 0 ? ` · ETA ${s.eta_s}s` : ''}`);
  p.flush();
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(saved.finished, true);
  assert.deepEqual(saved.kinds, s.kinds);
});
