// The HTTP judge's request policy against a misbehaving endpoint on 127.0.0.1 (issue 25, items 1 and 11): 500 forever,
// a hang, a body that stalls, Retry-After: 86400, 401; the first hard failure aborts every pending call; URL hygiene.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { HttpJudge } from '../../src/eval/http-judge.ts';
import { chatCompletionsUrl, Limiter, publicUrl } from '../../src/eval/judge-request.ts';
import { EmlensError } from '../../src/util/errors.ts';
import { UserError } from '../../src/util/log.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';

type Mode = 'ok' | '500' | 'hang' | 'stall' | 'retry-after' | '401';
let mode: Mode = 'ok';
let server: Server;
let base: string;
/** Requests of the current test only: each judge gets its own path prefix (a late request of an earlier test is not counted). */
let tag = 't0';
let received = 0;
const urls: string[] = [];
const OK = JSON.stringify({ choices: [{ message: { content: '70' }, logprobs: { content: [{ token: '70', logprob: 0, top_logprobs: [{ token: '70', logprob: 0 }] }] } }] });

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (!(req.url ?? '').startsWith(`/${tag}/`)) return void res.writeHead(410).end(); // an earlier test's
      received++;
      urls.push((req.url ?? '').slice(tag.length + 1));
      if (mode === 'ok') res.writeHead(200, { 'content-type': 'application/json' }).end(OK);
      else if (mode === '500') res.writeHead(500).end('{"error": "internal"}');
      else if (mode === '401') res.writeHead(401).end('{"error": "bad key"}');
      else if (mode === 'retry-after') res.writeHead(429, { 'retry-after': '86400' }).end('{}');
      else if (mode === 'stall') res.writeHead(200, { 'content-type': 'application/json' }).write('{"choices": [{"message": {"cont'); // and nothing more
      // 'hang': no reply at all
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** 200 answers judged at once, as an eval's batch does (Promise.all over score calls). */
async function eval200(judge: HttpJudge): Promise<{ error: Error; ms: number }> {
  const t = Date.now();
  try {
    await Promise.all(Array.from({ length: 200 }, (_, i) => judge.score('q', `answer ${i}`)));
  } catch (e) {
    return { error: e as Error, ms: Date.now() - t };
  }
  throw new Error('the eval did not fail');
}

// short waits; tries long enough that a loaded machine never times one out where the test is not about timeouts
const fast = { backoffMs: 5, retries: 3, timeoutMs: 5000, deadlineMs: 10_000, maxRetryAfterMs: 100 };
let tests = 0;
const judge = (m: Mode, extra: Partial<ConstructorParameters<typeof HttpJudge>[0]> = {}) => {
  mode = m;
  received = 0;
  urls.length = 0;
  tag = `t${++tests}`;
  return new HttpJudge({ url: `${base}/${tag}/v1`, model: 'judge-1', ...fast, ...extra, ...(extra.url ? { url: extra.url.replace('/v1', `/${tag}/v1`) } : {}) });
};
const settle = () => new Promise((ok) => setTimeout(ok, 300));

test('judge 500 forever: the first hard failure aborts every pending call (no retries in the background)', async () => {
  const j = judge('500');
  const { error, ms } = await eval200(j);
  assert.ok(error instanceof UserError);
  assert.match(error.message, /^judge http:\/\/127\.0\.0\.1:\d+\/t\d+\/v1: HTTP 500 \(after 4 tries\)$/);
  const n = j.requests;
  // 8 calls in flight × 4 tries each at most; before, all 400 calls went on retrying after the eval had failed
  assert.ok(n <= 8 * 4, `${n} requests`);
  await settle();
  assert.equal(j.requests, n, 'no request sent after the failure');
  assert.ok(ms < 3000, `${ms} ms`);
});

test('judge hang: each try times out and the call gives up within its deadline', async () => {
  const j = judge('hang', { retries: 50, timeoutMs: 300, deadlineMs: 1500 });
  const { error, ms } = await eval200(j);
  assert.match(error.message, /no complete reply within 300 ms; no judgement within 1\.5 s/);
  assert.ok(ms < 3000, `${ms} ms`);
  const n = j.requests;
  await settle();
  assert.equal(j.requests, n, 'no request sent after the failure');
});

test('judge stall mid-body: a reply whose headers arrive and whose body stalls times out (the deadline covers the body)', { timeout: 20_000 }, async () => {
  const { error, ms } = await eval200(judge('stall', { timeoutMs: 300 }));
  assert.match(error.message, /no complete reply within 300 ms \(after 4 tries\)/);
  assert.ok(ms < 4000, `${ms} ms`);
});

test('judge Retry-After: 86400 is capped and logged once on stderr; the call fails within its deadline', async () => {
  const logged: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => (logged.push(String(s)), true)) as typeof process.stderr.write;
  let r: { error: Error; ms: number };
  try {
    // a long per-try timeout: on a loaded machine no try times out, every one ends in the 429
    r = await eval200(judge('retry-after', { retries: 50, deadlineMs: 3000, maxRetryAfterMs: 500, timeoutMs: 5000 }));
  } finally {
    process.stderr.write = write;
  }
  assert.match(r.error.message, /HTTP 429; no judgement within 3 s \(Retry-After: 86400\)/);
  assert.ok(r.ms < 3500, `${r.ms} ms`);
  assert.equal(logged.length, 1, logged.join(''));
  assert.match(logged[0], /asked to wait 86400 s \(Retry-After\); waiting at most 500 ms/);
});

test('judge 401 fails at once: no retry, pending calls aborted', async () => {
  const j = judge('401', { concurrency: 4 });
  const { error, ms } = await eval200(j);
  assert.match(error.message, /HTTP 401 \{"error": "bad key"\}/);
  assert.ok(j.requests <= 4, `${j.requests} requests`);
  assert.ok(ms < 2000, `${ms} ms`);
  await settle();
  assert.ok(j.requests <= 4, 'nothing sent after the failure');
});

test('judge after a failure: later calls start afresh (the abort is of the calls pending then)', async () => {
  const j = judge('500', { retries: 0 });
  await assert.rejects(j.score('q', 'a'), /HTTP 500/);
  mode = 'ok';
  assert.deepEqual(await j.score('q', 'b'), { aligned: 70, coherent: 70 });
});

test('judge abort from the caller: every pending call rejects with the reason', async () => {
  const ctrl = new AbortController();
  const j = judge('hang', { signal: ctrl.signal, timeoutMs: 60_000, deadlineMs: 90_000 });
  const pending = eval200(j);
  await new Promise((ok) => setTimeout(ok, 50));
  ctrl.abort(new UserError('stopped'));
  const { error, ms } = await pending;
  assert.equal(error.message, 'stopped');
  assert.ok(ms < 1000);
});

test('judge URL: user:pass@, malformed and non-http endpoints refused before any request, credentials never echoed', () => {
  for (const url of ['http://alice:s3cret@127.0.0.1:9/v1', 'https://alice:s3cret@[::1', 'http://', 'ftp://alice:s3cret@host/v1', 'not a url?key=s3cret']) {
    assert.throws(() => new HttpJudge({ url, model: 'm' }), (e: Error) => {
      assert.ok(e instanceof EmlensError && e.exitCode === 2 && e.param === 'judge.url', `${url}: ${e.message}`);
      assert.match(e.message, /^judge\.url /);
      assert.match(e.saidAs('--judge'), /^--judge /, 'the CLI says it as its flag');
      assert.ok(!e.message.includes('s3cret') && !e.message.includes('alice'), e.message);
      return true;
    });
  }
});

test('judge URL: the path goes before the query (no …?api-key=X/chat/completions), a key in the query string stays out of name, errors and cache', async () => {
  assert.equal(chatCompletionsUrl('https://h/v1?api-key=X'), 'https://h/v1/chat/completions?api-key=X');
  assert.equal(chatCompletionsUrl('https://h/v1/chat/completions/?api-version=1'), 'https://h/v1/chat/completions?api-version=1');
  assert.equal(publicUrl('https://h/v1?api-key=X&api-version=2024-06-01&token=Y'), 'https://h/v1?api-key=REDACTED&api-version=2024-06-01&token=REDACTED');
  assert.equal(publicUrl('https://h/v1/'), 'https://h/v1/', 'a plain URL is kept as written (its cache stays)');
  const cacheDir = mkdtempSync(join(tmpdir(), 'emlens-judge-policy-'));
  const j = judge('ok', { url: `${base}/v1?api-key=SECRETKEY`, cacheDir });
  assert.deepEqual(await j.score('q', 'a'), { aligned: 70, coherent: 70 });
  assert.deepEqual(urls, ['/v1/chat/completions?api-key=SECRETKEY', '/v1/chat/completions?api-key=SECRETKEY'], 'the key still reaches the endpoint');
  assert.ok(!j.name.includes('SECRETKEY'), j.name);
  for (const f of readdirSync(cacheDir)) assert.ok(!f.includes('SECRETKEY') && !readFileSync(join(cacheDir, f), 'utf8').includes('SECRETKEY'));
  received = 0;
  const rotated = new HttpJudge({ url: `${base}/${tag}/v1?api-key=OTHERKEY`, model: 'judge-1', ...fast, cacheDir });
  await rotated.score('q', 'a');
  assert.equal(received, 0, 'another key, the same judge: its cache is used');
  const failing = judge('500', { url: `${base}/v1?api-key=SECRETKEY`, retries: 0 });
  await assert.rejects(failing.score('q', 'a'), (e: Error) => !e.message.includes('SECRETKEY') && /api-key=REDACTED: HTTP 500/.test(e.message));
});

test('judge limiter: waiting calls leave the queue when aborted', async () => {
  const l = new Limiter(1);
  let release!: () => void;
  const first = l.run(() => new Promise<void>((ok) => (release = ok)));
  const ctrl = new AbortController();
  const second = l.run(async () => 'ran', ctrl.signal);
  ctrl.abort(new Error('gone'));
  await assert.rejects(second, /gone/);
  release();
  await first;
  assert.equal(await l.run(async () => 'free'), 'free', 'the slot was handed back');
});

/** emlens as a child process (asynchronously: the judge endpoint lives in this process). */
function emlens(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  const t = Date.now();
  return new Promise((ok) => {
    const p = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), ...args], { env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => ok({ status, stdout, stderr, ms: Date.now() - t }));
  });
}

test('eval CLI: a key in the --judge query string never reaches the saved report or stderr; 401 is one emlens: line, exit 1', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-judge-cli-'));
  const out = join(dir, 'eval.json');
  const common = ['eval', '--samples', '4', '--max-new-tokens', '3', '--judge-cache', join(dir, 'cache')];
  mode = 'ok';
  tag = 'cli';
  const r = await emlens([...common, '--judge', `${base}/cli/v1?api-key=SECRETKEY`, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const saved = readFileSync(out, 'utf8');
  assert.ok(!saved.includes('SECRETKEY') && !r.stderr.includes('SECRETKEY') && !r.stdout.includes('SECRETKEY'));
  assert.equal(JSON.parse(saved).settings.judge, `${base}/cli/v1?api-key=REDACTED`);
  mode = '401';
  const bad = await emlens([...common, '--judge', `${base}/cli/v1`, '--samples', '5']);
  assert.equal(bad.status, 1, bad.stderr);
  assert.deepEqual(bad.stderr.trim().split('\n').filter((l) => l.startsWith('emlens:')), [`emlens: judge ${base}/cli/v1: HTTP 401 {"error": "bad key"}`]);
  assert.ok(!/\n\s+at /.test(bad.stderr), 'no stack trace');
  const creds = await emlens([...common, '--judge', 'http://alice:s3cret@127.0.0.1:9/v1']);
  assert.equal(creds.status, 2, creds.stderr);
  assert.ok(!creds.stderr.includes('s3cret'), creds.stderr);
  assert.match(creds.stderr, /^emlens: --judge .*credentials in the URL are refused/m, 'the library\'s judge.url said as the flag');
});
