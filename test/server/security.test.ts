// The report server's file-serving policy over real HTTP on 127.0.0.1 (issue 25, items 3 and 5): HTML/SVG in a run
// never inline, only folders that are runs served, a Host allow-list against DNS rebinding, hardening headers, and the
// index cached per run (re-read only when a run's files change; concurrent requests share one scan).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest, type Server, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createApp } from '../../server/app.ts';
import { RunIndex } from '../../server/runs.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';

let runs: string, server: Server, port: number;
const QUICK = join(PACKAGE_ROOT, 'fixtures', 'runs', 'quick-study');

before(async () => {
  runs = mkdtempSync(join(tmpdir(), 'emlens-sec-'));
  cpSync(QUICK, join(runs, 'quick-study'), { recursive: true });
  writeFileSync(join(runs, 'quick-study', 'evals', 'page.html'), '<script>fetch("/api/runs")</script>');
  writeFileSync(join(runs, 'quick-study', 'evals', 'chart.svg'), '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>');
  writeFileSync(join(runs, 'quick-study', 'evals', 'table.csv'), 'a,b\n1,2\n');
  writeFileSync(join(runs, 'quick-study', 'adapter_model.safetensors'), Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]));
  // a folder of the runs folder that is not a run (emlens demo --out ~/x serves ~): none of it is served
  mkdirSync(join(runs, 'Documents'));
  writeFileSync(join(runs, 'Documents', 'secret.json'), '{"secret": "STOLEN"}');
  server = createApp(runs).listen(0, '127.0.0.1');
  await new Promise((ok) => server.once('listening', ok));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

/** A GET with any Host header (fetch does not let a page choose it; a DNS-rebinding page's browser sends its own name). */
function get(path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((ok, fail) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c) => (body += c));
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

const FILES = '/api/runs/quick-study/files';

test('server: an .html or .svg in a run is never served inline (a download, no script can run on the report origin)', async () => {
  for (const f of ['evals/page.html', 'evals/chart.svg']) {
    const r = await get(`${FILES}/${f}`);
    assert.equal(r.status, 200, f);
    assert.equal(r.headers['content-type'], 'application/octet-stream', f);
    assert.match(r.headers['content-disposition'] ?? '', /^attachment; filename="?(page\.html|chart\.svg)"?$/, f);
    assert.match(String(r.headers['content-security-policy']), /sandbox/, f);
  }
});

test('server: run files by type: JSON and CSV as data, safetensors as a download', async () => {
  const json = await get(`${FILES}/evals/base.json`);
  assert.equal(json.status, 200);
  assert.equal(json.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(json.headers['content-disposition'], undefined);
  assert.ok(JSON.parse(json.body).answers.length > 0);
  const csv = await get(`${FILES}/evals/table.csv`);
  assert.equal(csv.headers['content-type'], 'text/csv; charset=utf-8');
  assert.equal(csv.body, 'a,b\n1,2\n');
  const st = await get(`${FILES}/adapter_model.safetensors`);
  assert.equal(st.headers['content-type'], 'application/octet-stream');
  assert.match(st.headers['content-disposition'] ?? '', /^attachment; filename="?adapter_model\.safetensors"?$/);
  const missing = await get(`${FILES}/evals/nope.json`);
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['content-disposition'], undefined, 'an error is not a download');
  assert.match(String(missing.headers['content-type']), /json/);
});

test('server: only folders that are runs (report.json or analyses/) are served: no files of other folders in the runs folder', async () => {
  for (const p of ['/api/runs/Documents/files/secret.json', '/api/runs/Documents/report', '/runs/Documents']) {
    const r = await get(p);
    assert.equal(r.status, 404, p);
    assert.ok(!r.body.includes('STOLEN'), p);
  }
  const list = JSON.parse((await get('/api/runs')).body) as { name: string }[];
  assert.deepEqual(list.map((r) => r.name), ['quick-study']);
});

test('server: Host: evil.example is refused (DNS rebinding); the loopback names and the bound address are allowed', async () => {
  for (const p of ['/', '/api/runs', '/api/runs/quick-study/report', `${FILES}/evals/base.json`, '/runs/quick-study', '/viz/bundle.js']) {
    const r = await get(p, `evil.example:${port}`);
    assert.equal(r.status, 403, p);
    assert.ok(!r.body.includes('"answers"') && !r.body.includes('"analyses"'), p);
  }
  for (const bad of ['evil.example', 'localhost.evil.example', '127.0.0.1.evil.example', 'a b']) assert.equal((await get('/api/runs', bad)).status, 403, JSON.stringify(bad));
  const noHost = await new Promise<string>((ok) => {
    const c = connect(port, '127.0.0.1', () => c.end('GET /api/runs HTTP/1.0\r\n\r\n'));
    let got = '';
    c.on('data', (d) => (got += d)).on('end', () => ok(got));
  });
  assert.match(noHost, /^HTTP\/1\.1 403 /, 'no Host header at all');
  for (const good of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, 'localhost']) assert.equal((await get('/api/runs', good)).status, 200, good);
  const named = createApp(runs, { host: 'reports.lan' }).listen(0, '127.0.0.1');
  await new Promise((ok) => named.once('listening', ok));
  try {
    const p = (named.address() as AddressInfo).port;
    const at = (host: string) => new Promise<number>((ok, fail) => httpRequest({ host: '127.0.0.1', port: p, path: '/api/runs', headers: { host } }, (res) => (res.resume(), ok(res.statusCode!))).on('error', fail).end());
    assert.equal(await at(`reports.lan:${p}`), 200, 'the bound address');
    assert.equal(await at(`evil.example:${p}`), 403);
  } finally {
    named.close();
  }
});

test('server: hardening headers on every reply (nosniff, CSP, X-Frame-Options, Referrer-Policy)', async () => {
  for (const p of ['/', '/runs/quick-study', '/api/runs', '/api/runs/quick-study/report', `${FILES}/evals/base.json`, '/nope', '/api/nope', '/viz/bundle.js']) {
    const r = await get(p);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
    assert.equal(r.headers['x-frame-options'], 'DENY', p);
    assert.equal(r.headers['referrer-policy'], 'no-referrer', p);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/, p);
    assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/, p);
  }
  const page = await get('/runs/quick-study');
  assert.match(String(page.headers['content-security-policy']), /script-src 'self';/, 'the page loads the viz bundle from this server, no inline script');
  assert.match(page.body, /<script src="\/viz\/bundle\.js"><\/script>/);
  assert.ok(!/<script>/.test(page.body), 'no inline script the CSP would block');
});

test('server index cached by each run\'s report.json stats (inode, size, mtime): unchanged runs are not re-read, a changed one is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-index-'));
  cpSync(QUICK, join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'b'));
  writeFileSync(join(dir, 'b', 'report.json'), JSON.stringify({ model: 'first', created_at: '2026-01-01', sections: {} }));
  const index = new RunIndex(dir);
  const first = await index.list();
  assert.deepEqual(first.map((r) => r.name).sort(), ['a', 'b']);
  assert.equal(await index.list(), first, 'nothing changed: the same list, no file re-read');
  // concurrent requests share one scan
  const many = await Promise.all(Array.from({ length: 20 }, () => index.list()));
  assert.ok(many.every((l) => l === first));
  // an atomic rewrite of report.json (what every writer here does): seen at once
  writeFileSync(join(dir, 'b', 'report.tmp'), JSON.stringify({ model: 'second', created_at: '2026-01-01', sections: {} }));
  renameSync(join(dir, 'b', 'report.tmp'), join(dir, 'b', 'report.json'));
  assert.equal(await index.list(60_000), first, 'within its max age the last scan answers (what the server does for 1 s)');
  const second = await index.list();
  assert.notEqual(second, first);
  assert.equal((second.find((r) => r.name === 'b') as { model: string }).model, 'second');
  assert.equal(second.find((r) => r.name === 'a'), first.find((r) => r.name === 'a'), 'the unchanged run kept its cached summary');
  // an analysis replaced (atomically, as every writer here does) in a run without report.json: seen at once
  writeFileSync(join(dir, 'a', 'analyses', 'gating.tmp'), '{"result": [trunc');
  renameSync(join(dir, 'a', 'analyses', 'gating.tmp'), join(dir, 'a', 'analyses', 'gating.json'));
  const third = await index.list();
  const a = third.find((r) => r.name === 'a')!;
  assert.ok(!('error' in a) && !a.analyses.includes('gating') && a.analyses.includes('steering-transfer'), 'one unreadable analysis is left out, the others listed');
  assert.notEqual(third.find((r) => r.name === 'a'), first.find((r) => r.name === 'a'));
  rmSync(join(dir, 'b'), { recursive: true });
  assert.deepEqual((await index.list()).map((r) => r.name), ['a'], 'a removed run leaves the index');
});
