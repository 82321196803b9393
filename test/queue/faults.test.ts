// Queue faults against a real redis-server: Redis unreachable is one clear error (never a hang, never the URL's
// password); Redis stopped mid-study stops the study with one clear error, and with Redis restarted from its
// append-only file the same command finishes without computing a finished step again. Skipped, saying how to install
// it, where redis-server is missing. Ctrl-C on the study removes its waiting jobs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emlens, freePort, redisMissing, startRedis, stopAll, type Proc, type RedisServer } from './redis.ts';

const missing = redisMissing();
let root = '';
let model = '';
const procs: Proc[] = [];
const servers: RedisServer[] = [];
const PARAMS = JSON.stringify({ samples: 16 });

before(async () => {
  if (missing) return;
  root = mkdtempSync(join(tmpdir(), 'emlens-queue-faults-'));
  model = join(root, 'organism');
  const built = emlens(['organism', 'build', '--quick', '--out', model]);
  assert.equal(await built.exited, 0, built.log());
});

after(async () => {
  await stopAll(procs);
  for (const s of servers) await s.stop();
});

test('Redis unreachable: one clear error naming the redacted URL, in seconds', async (t) => {
  if (missing) return t.skip(missing);
  const port = await freePort(); // nothing listens there
  const t0 = Date.now();
  const study = emlens(['run', 'sycophancy-em', '--model', model, '--out', join(root, 'nowhere'), '--queue', `redis://:s3cret-pw@127.0.0.1:${port}/0`]);
  assert.equal(await study.exited, 1);
  assert.ok(Date.now() - t0 < 30_000);
  const lines = study.log().trim().split('\n').filter((l) => l.startsWith('emlens:'));
  assert.deepEqual(lines, [`emlens: the queue at redis://***@127.0.0.1:${port}/0 is unreachable (ECONNREFUSED); is redis-server running there?`]);
  assert.doesNotMatch(study.log(), /s3cret-pw/);
  const worker = emlens(['worker', '--queue', `redis://:s3cret-pw@127.0.0.1:${port}`]);
  assert.equal(await worker.exited, 1);
  assert.match(worker.log(), /emlens: the queue at redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/0 is unreachable/);
  assert.doesNotMatch(worker.log(), /s3cret-pw/);
});

test('a password-protected queue: the study runs, and the password is in no log and no file of the run', async (t) => {
  if (missing) return t.skip(missing);
  const redis = await startRedis({ password: 'pw-Zq81' });
  servers.push(redis);
  const w = emlens(['worker', '--queue', redis.url, '--name', 'pw']);
  procs.push(w);
  await w.waitFor(/taking steps/, 60_000);
  const run = join(root, 'with-password');
  const study = emlens(['run', 'sycophancy-em', '--model', model, '--params', JSON.stringify({ samples: 4 }), '--out', run, '--queue', redis.url]);
  assert.equal(await study.exited, 0, study.log());
  await stopAll([w], 'SIGTERM');
  for (const text of [study.log(), w.log(), readFileSync(join(run, 'finetunes', 'sycophancy', 'run.json'), 'utf8'), readFileSync(join(run, 'analyses', 'sycophancy-em.json'), 'utf8')]) assert.doesNotMatch(text, /pw-Zq81/);
  assert.match(w.log(), /redis:\/\/\*\*\*@127\.0\.0\.1/);
});

test('Redis stopped mid-study: a clear error; restarted from its append-only file, the study finishes without recomputing', async (t) => {
  if (missing) return t.skip(missing);
  let redis = await startRedis({ persistent: true });
  servers.push(redis);
  const w = emlens(['worker', '--queue', redis.url, '--name', 'steady', '--work-dir', mkdtempSync(join(tmpdir(), 'emlens-w-'))]);
  procs.push(w);
  await w.waitFor(/taking steps/, 60_000);
  const run = join(root, 'interrupted');
  const args = ['run', 'sycophancy-em', '--model', model, '--params', PARAMS, '--out', run, '--queue', redis.url, '--json'];
  const first = emlens(args);
  procs.push(first);
  // a step finished (its result in Redis), then Redis goes down hard
  await w.waitFor(/done in/, 900_000);
  await redis.stop('SIGKILL');
  const t0 = Date.now();
  assert.equal(await first.exited, 1, first.log());
  assert.ok(Date.now() - t0 < 30_000, `the study took ${Date.now() - t0} ms to stop`);
  const errors = first.log().split('\n').filter((l) => l.startsWith('emlens:'));
  assert.equal(errors.length, 1, first.log());
  assert.match(errors[0], /^emlens: the queue at redis:\/\/127\.0\.0\.1:\d+\/0 stopped answering \(.+\); finished steps are kept in Redis and in the run folder: start Redis and run the same command again$/);
  const before = w.log();
  const finished = [...before.matchAll(/: (finetune|eval) (\S+) done in/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.ok(finished.length >= 1);

  redis = await redis.restart();
  servers.push(redis);
  const second = emlens(args);
  procs.push(second);
  assert.equal(await second.exited, 0, second.log());
  await stopAll([w], 'SIGTERM');
  const after = w.log().slice(before.length);
  for (const f of finished) assert.doesNotMatch(after, new RegExp(`: ${f} \\(job`), `${f} was computed again`);
  assert.match(second.log(), /already\)/, 'the study counted steps found in the store');
  assert.ok(existsSync(join(run, 'analyses', 'sycophancy-em.json')));
});

test("Ctrl-C on the study removes its waiting jobs and exits 130", async (t) => {
  if (missing) return t.skip(missing);
  const redis = await startRedis();
  servers.push(redis);
  // no worker: every step waits
  const study = emlens(['run', 'sycophancy-em', '--model', model, '--params', PARAMS, '--out', join(root, 'cancelled'), '--queue', redis.url]);
  procs.push(study);
  await study.waitFor(/queue: .*finetune 0\/2 done, 0 running, 2 waiting/, 120_000);
  const before = emlens(['queue', 'status', '--queue', redis.url, '--json']);
  assert.equal(await before.exited, 0, before.log());
  assert.ok(JSON.parse(before.log().trim().split('\n').pop()!).counts.waiting >= 2);
  study.proc.kill('SIGINT');
  assert.equal(await study.exited, 130, study.log());
  assert.match(study.log(), /queue: \d+ waiting jobs? removed/);
  assert.match(study.log(), /emlens: interrupted: the waiting jobs of this study were removed; run the same command again/);
  const status = emlens(['queue', 'status', '--queue', redis.url, '--json']);
  assert.equal(await status.exited, 0, status.log());
  assert.equal(JSON.parse(status.log().trim().split('\n').pop()!).counts.waiting, 0);
});

test("a step that fails on every try fails the study with the worker's error", async (t) => {
  if (missing) return t.skip(missing);
  const redis = await startRedis();
  servers.push(redis);
  const data = join(root, 'broken.jsonl');
  writeFileSync(data, '{"messages": [\n');
  const w = emlens(['worker', '--queue', redis.url, '--name', 'picky']);
  procs.push(w);
  await w.waitFor(/taking steps/, 60_000);
  const study = emlens(['run', 'phase-transition', '--model', model, '--params', JSON.stringify({ finetune: { name: 'bad', data } }), '--out', join(root, 'failing'), '--queue', redis.url, '--attempts', '2']);
  assert.equal(await study.exited, 1, study.log());
  await stopAll([w], 'SIGTERM');
  const errors = study.log().split('\n').filter((l) => l.startsWith('emlens:'));
  assert.equal(errors.length, 1, study.log());
  assert.match(errors[0], /^emlens: finetune bad failed after 2 attempts: worker picky:\d+: .*broken\.jsonl:1/);
  assert.equal(w.log().match(/: finetune bad \(job/g)?.length, 2);
});
