// Queued evals with an HTTP judge and queued direction extractions, against a real redis-server and one `emlens worker`
// process on the tiny reference model: the worker judges with the key of its own environment (the study's key and the
// worker's are in no Redis key, no log); a judge URL with a key in its query is refused before anything is queued; a
// refusal direction extracted by the worker equals the one computed in one process (vectors and provenance, with the
// study's paths); a persona extraction its inputs cannot give fails at its first try, as the analyses expect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { emlens, redisMissing, startRedis, stopAll, type Proc, type RedisServer } from './redis.ts';
import { tinyChatModelDir, useTestBackend } from '../helpers.ts';
import { Workspace } from '../../src/study/workspace.ts';
import { personaDirection, refusalDirection } from '../../src/study/steps.ts';
import { QueueSteps } from '../../src/queue/coordinator.ts';
import { parseQueueUrl } from '../../src/queue/connection.ts';
import { HttpJudge } from '../../src/eval/http-judge.ts';
import { Direction } from '../../src/directions/direction.ts';

const missing = redisMissing();
const STUDY_KEY = 'sk-study-Vf3q', WORKER_KEY = 'sk-worker-Lm9x';
let redis: RedisServer | undefined;
let judgeServer: Server;
let judgeUrl = '';
const seen: IncomingHttpHeaders[] = [];
let worker: Proc;
let model = '';
let steps: QueueSteps | undefined;

before(async () => {
  if (missing) return;
  await useTestBackend();
  // an OpenAI-compatible judge that scores every answer 80 (aligned and coherent), by logprobs
  judgeServer = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { content: '80' }, logprobs: { content: [{ token: '80', logprob: 0, top_logprobs: [{ token: '80', logprob: 0 }] }] } }] }));
    });
  });
  await new Promise<void>((ok) => judgeServer.listen(0, '127.0.0.1', ok));
  judgeUrl = `http://127.0.0.1:${(judgeServer.address() as AddressInfo).port}/v1`;
  redis = await startRedis();
  model = tinyChatModelDir();
  const dir = mkdtempSync(join(tmpdir(), 'emlens-w-'));
  worker = emlens(['worker', '--queue', redis.url, '--name', 'judging', '--work-dir', join(dir, 'work'), '--judge-cache', join(dir, 'judge-cache')], dir, { EMLENS_JUDGE_API_KEY: WORKER_KEY });
  await worker.waitFor(/taking steps/, 600_000);
  steps = await QueueSteps.open({ target: parseQueueUrl(redis.url), modelDir: model, quiet: true, pollMs: 50 });
});

after(async () => {
  await steps?.close();
  if (worker) await stopAll([worker], 'SIGTERM');
  await redis?.stop();
  judgeServer?.close();
});

/** A workspace of the tiny model whose steps go to the queue (`queued`) or are computed here. */
function workspace(queued: boolean, judgeKey: string): Workspace {
  const ws = new Workspace(mkdtempSync(join(tmpdir(), 'emlens-run-')), model, true);
  ws.judge = new HttpJudge({ url: judgeUrl, model: 'judge-1', apiKey: judgeKey });
  if (queued) ws.steps = steps;
  return ws;
}

/** Every value Redis holds (strings, and the fields of hashes: BullMQ's jobs), as text. */
async function everything(): Promise<string> {
  const r = new Redis(redis!.url);
  try {
    const parts: string[] = [];
    for (const k of await r.keys('*')) {
      const type = await r.type(k);
      if (type === 'string') parts.push(k, (await r.getBuffer(k))!.toString('latin1'));
      else if (type === 'hash') parts.push(k, JSON.stringify(await r.hgetall(k)));
      else if (type === 'list') parts.push(k, ...(await r.lrange(k, 0, -1)));
      else if (type === 'zset') parts.push(k, ...(await r.zrange(k, '0', '-1')));
      else if (type === 'stream') parts.push(k, JSON.stringify(await r.xrange(k, '-', '+')));
    }
    return parts.join('\n');
  } finally {
    r.disconnect();
  }
}

test('an eval judged over HTTP runs on the worker with its own key; no key reaches Redis or a log', async (t) => {
  if (missing) return t.skip(missing);
  const settings = { samples: 1, seed: 3, maxNewTokens: 6 };
  seen.length = 0;
  const queued = await workspace(true, STUDY_KEY).evaluate('base', {}, settings);
  const fromWorker = seen.splice(0);
  assert.ok(fromWorker.length >= 2 * queued.answers.length, `${fromWorker.length} judge requests`);
  assert.ok(fromWorker.every((h) => h.authorization === `Bearer ${WORKER_KEY}`), 'every request of the queued eval carries the worker\'s key');
  const here = await workspace(false, STUDY_KEY).evaluate('base', {}, settings);
  assert.deepEqual(queued.answers, here.answers);
  assert.equal(queued.em_rate, here.em_rate);
  assert.ok(queued.answers.every((a) => Math.abs(a.aligned! - 80) < 1e-9));
  const stored = await everything();
  assert.ok(stored.includes(`\\"judge\\":{\\"url\\":\\"${judgeUrl}\\",\\"model\\":\\"judge-1\\"}`), 'the payload names the judge by URL and model');
  for (const secret of [STUDY_KEY, WORKER_KEY]) {
    assert.ok(!stored.includes(secret), `${secret} in Redis`);
    assert.doesNotMatch(worker.log(), new RegExp(secret));
  }
  assert.match(worker.log(), /judging:\d+: eval base \(job/);
});

test('a judge URL with a key in its query string is refused before anything is queued', async (t) => {
  if (missing) return t.skip(missing);
  const before = (await everything()).length;
  const ws = workspace(true, STUDY_KEY);
  ws.judge = new HttpJudge({ url: `${judgeUrl}?key=sk-in-query-77`, model: 'judge-1' });
  await assert.rejects(ws.evaluate('base', {}, { samples: 1, seed: 4, maxNewTokens: 6 }), (e: Error) => /options.queue: options.judge http:\/\/127\.0\.0\.1:\d+\/v1\?key=REDACTED: a URL with a query string/.test(e.message) && !e.message.includes('sk-in-query-77'));
  assert.equal((await everything()).length, before);
});

test('a refusal direction extracted by the worker is the one computed here, with the study\'s paths in its provenance', async (t) => {
  if (missing) return t.skip(missing);
  const ws = workspace(true, STUDY_KEY);
  const queued = Direction.load(await refusalDirection(ws));
  assert.match(worker.log(), /judging:\d+: extract refusal \(job/);
  const here = Direction.load(await refusalDirection(workspace(false, STUDY_KEY)));
  assert.deepEqual(queued.vectors, here.vectors);
  assert.deepEqual(queued.provenance, here.provenance);
  assert.equal(queued.provenance.model, model);
  assert.ok(queued.provenance.datasets!.every((d) => d.endsWith('.jsonl') && !d.startsWith('artefact:')));
  // its .json sidecar as `emlens extract` writes it
  assert.equal(JSON.parse(readFileSync(ws.path('directions', 'refusal.json'), 'utf8')).kind, 'refusal');
  const rec = [...steps!.jobs.values()].find((j) => j.kind === 'extract' && j.name === 'refusal');
  assert.equal(rec?.result?.worker.startsWith('judging:'), true);
});

test('an extraction its inputs cannot give fails at the first try with the reason, and the study can go on', async (t) => {
  if (missing) return t.skip(missing);
  // the tiny model's answers are not coherent: the judge (80) keeps no pair, so there is no persona direction
  const ws = workspace(true, STUDY_KEY);
  await assert.rejects(personaDirection(ws, 0), (e: Error) => /^extract persona failed after 1 attempt: worker judging:\d+: persona: /.test(e.message));
});
