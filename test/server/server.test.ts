// The report server over real HTTP on 127.0.0.1 and the pages in headless Chromium: the index lists runs, a run page
// draws its charts with tooltips and no console errors, the exported HTML renders the same offline; nothing outside
// the runs folder is ever served (../, %2e%2e, absolute paths, symlinks); a malformed report is an error page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, mkdirSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawnSync } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { createApp } from '../../server/app.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { launchChromium, type ChromiumChoice } from '../browser.ts';

let runs: string, server: Server, base: string, browser: Browser, chromiumUsed: ChromiumChoice;
/** A full `emlens demo` of organism v13 (report.json, analyses, two evals; fixtures/runs/organism-demo/README.md). */
const DEMO = join(PACKAGE_ROOT, 'fixtures', 'runs', 'organism-demo');

before(async () => {
  runs = mkdtempSync(join(tmpdir(), 'emlens-runs-'));
  cpSync(join(PACKAGE_ROOT, 'fixtures', 'runs', 'quick-study'), join(runs, 'quick-study'), { recursive: true });
  cpSync(DEMO, join(runs, 'organism-demo'), { recursive: true });
  mkdirSync(join(runs, 'broken', 'analyses'), { recursive: true });
  writeFileSync(join(runs, 'broken', 'analyses', 'gating.json'), '{"result": [truncated');
  mkdirSync(join(runs, 'broken-report'));
  writeFileSync(join(runs, 'broken-report', 'report.json'), '{"sections": [trunc');
  // a run whose report files reach out of the runs folder, and one with a date that is not a string
  cpSync(join(PACKAGE_ROOT, 'fixtures', 'runs', 'quick-study'), join(runs, 'mixed'), { recursive: true });
  writeFileSync(join(runs, 'mixed', 'analyses', 'gating.json'), '{"result": [truncated');
  mkdirSync(join(runs, 'mixed', 'sub'));
  writeFileSync(join(runs, 'mixed', 'sub', '.env'), 'DOTSECRET');
  const secretJson = join(mkdtempSync(join(tmpdir(), 'emlens-outside-')), 'secret.json');
  writeFileSync(secretJson, '{"result": {"secret": "STOLEN"}}');
  symlinkSync(secretJson, join(runs, 'mixed', 'analyses', 'steal.json'));
  mkdirSync(join(runs, 'dated', 'analyses'), { recursive: true });
  writeFileSync(join(runs, 'dated', 'analyses', 'refusal.json'), JSON.stringify({ finished_at: 1700000000, model: 7, result: {} }));
  const outside = mkdtempSync(join(tmpdir(), 'emlens-outside-'));
  writeFileSync(join(outside, 'secret.txt'), 'secret');
  symlinkSync(outside, join(runs, 'quick-study', 'escape'));
  symlinkSync(join(outside, 'secret.txt'), join(runs, 'quick-study', 'secret-link.txt'));
  server = createApp(runs).listen(0, '127.0.0.1');
  await new Promise((ok) => server.once('listening', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ({ browser, choice: chromiumUsed } = await launchChromium()); // says on stderr which Chromium it found
});
after(async () => {
  await browser?.close();
  if (server?.listening) server.close();
});

/** A raw GET (no URL normalisation by the client), for traversal attempts. */
function rawGet(path: string): Promise<number> {
  const { port } = server.address() as AddressInfo;
  return new Promise((ok, fail) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      ok(res.statusCode!);
    });
    req.on('error', fail);
    req.end();
  });
}

test('API: runs listed, report served, unknown run 404, malformed run listed with its error', async () => {
  const list = (await (await fetch(`${base}/api/runs`)).json()) as { name: string; analyses?: string[]; error?: string }[];
  const q = list.find((r) => r.name === 'quick-study')!;
  assert.ok(q.analyses!.includes('steering-transfer'));
  assert.match(list.find((r) => r.name === 'broken')!.error!, /malformed JSON/);
  const rep = (await (await fetch(`${base}/api/runs/quick-study/report`)).json()) as { analyses: Record<string, unknown>; evals: string[] };
  assert.equal(Object.keys(rep.analyses).length, 7);
  assert.deepEqual(rep.evals, ['base', 'sycophancy']);
  assert.equal((await fetch(`${base}/runs/nope`)).status, 404);
  assert.match(await (await fetch(`${base}/runs/nope`)).text(), /Not found/);
  assert.equal((await fetch(`${base}/api/runs/quick-study/files/evals/base.json`)).status, 200);
});

test('a malformed report is an error page, and the server keeps answering', async () => {
  const r = await fetch(`${base}/runs/broken-report`);
  assert.equal(r.status, 500);
  assert.match(await r.text(), /could not be read.*malformed JSON/s);
  assert.equal((await fetch(`${base}/api/runs`)).status, 200);
});

test('one unreadable analysis is reported beside the others; a symlink out of the run is not read; odd dates do not break the index', async () => {
  const rep = (await (await fetch(`${base}/api/runs/mixed/report`)).json()) as { analyses: Record<string, unknown>; errors: Record<string, string> };
  assert.equal(Object.keys(rep.analyses).length, 6, 'the readable ones');
  assert.match(rep.errors.gating, /malformed JSON/);
  assert.match(rep.errors.steal, /outside the runs folder/);
  assert.ok(!JSON.stringify(rep).includes('STOLEN'));
  assert.equal((await fetch(`${base}/api/runs/mixed/files/sub%2f.env`)).status, 404, 'an encoded slash does not reach a dot-file');
  const index = await fetch(`${base}/`);
  assert.equal(index.status, 200);
  assert.match(await index.text(), /dated/);
});

test('nothing outside the runs folder is served: ../, %2e%2e, absolute paths, symlinks', async () => {
  const attempts = [
    '/api/runs/quick-study/files/../../../etc/passwd',
    '/api/runs/quick-study/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/api/runs/quick-study/files/..%2f..%2f..%2fetc%2fpasswd',
    '/api/runs/quick-study/files/%2fetc%2fpasswd',
    '/api/runs/quick-study/files//etc/passwd',
    '/api/runs/..%2f..%2fetc/report',
    '/api/runs/%2e%2e/report',
    '/runs/..',
    '/runs/%2e%2e',
    '/api/runs/quick-study/files/escape/secret.txt',
    '/api/runs/quick-study/files/secret-link.txt',
  ];
  for (const a of attempts) {
    const status = await rawGet(a);
    assert.ok(status >= 400 && status < 500, `${a} → ${status}`);
  }
});

test('a runs folder below a dot-directory (~/.cache/…) serves its files; dot-files inside a run are not served', async () => {
  const hidden = join(mkdtempSync(join(tmpdir(), 'emlens-home-')), '.cache', 'runs');
  cpSync(join(PACKAGE_ROOT, 'fixtures', 'runs', 'quick-study'), join(hidden, 'quick-study'), { recursive: true });
  writeFileSync(join(hidden, 'quick-study', '.state.json'), '{}');
  const app = createApp(hidden).listen(0, '127.0.0.1');
  await new Promise((ok) => app.once('listening', ok));
  try {
    const at = `http://127.0.0.1:${(app.address() as AddressInfo).port}/api/runs/quick-study/files`;
    assert.equal((await fetch(`${at}/evals/base.json`)).status, 200);
    assert.equal((await fetch(`${at}/.state.json`)).status, 404);
  } finally {
    app.close();
  }
});

test('pages in Chromium: the index lists the run; the run page draws every chart, tooltips on hover, no console errors', async (t) => {
  t.diagnostic(`Chromium from ${chromiumUsed.source}: ${chromiumUsed.executablePath} (${browser.version()})`);
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/`);
  assert.equal(await page.locator('#runs a', { hasText: 'quick-study' }).count(), 1);
  await page.goto(`${base}/runs/quick-study`);
  await page.waitForSelector('body[data-ready]');
  for (const id of ['direction-comparison', 'steering-transfer', 'steering-sweep', 'gating', 'phase-transition', 'sycophancy-em', 'rebound', 'quadrant', 'answers']) {
    assert.equal(await page.locator(`section#${id}`).count(), 1, `chart ${id}`);
  }
  assert.ok((await page.locator('#direction-comparison rect.cell').count()) > 10);
  assert.ok((await page.locator('#quadrant circle.answer').count()) > 5);
  assert.equal(await page.locator('#quadrant rect.em-quadrant').count(), 1);
  await page.locator('#direction-comparison rect.cell').nth(3).hover();
  assert.match((await page.locator('.tooltip').textContent()) ?? '', /layer \d+: cosine/);
  await page.locator('#quadrant circle.answer').first().hover({ force: true });
  assert.match((await page.locator('.tooltip').textContent()) ?? '', /Q: .*\nA: /s);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a run page opens on its findings: name, model, what was run, the claims above the fold, then contents; each chart reads its result', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/runs/organism-demo`);
  await page.waitForSelector('body[data-ready]');
  const report = JSON.parse(readFileSync(join(DEMO, 'report.json'), 'utf8')) as { name: string; description: string; model: string };
  assert.match((await page.locator('h1').textContent())!, new RegExp(`^${report.name}`));
  assert.equal(await page.locator('.run-head .lede').textContent(), report.description);
  assert.match((await page.locator('.run-head .meta').textContent())!, /model: .*organism · emlens demo, the whole study · 200 answers per EM figure/);
  // in page order: the summary, the contents, then the first chart; the claims table fits the first screen
  const order = await page.evaluate(() => ['#summary', '#toc', 'section.chart'].map((s) => document.querySelector(s)!.getBoundingClientRect().top));
  assert.ok(order[0] < order[1] && order[1] < order[2], `summary, contents, charts: ${order}`);
  const table = (await page.locator('table.claims').boundingBox())!;
  assert.ok(table.y + table.height <= 900, `the findings table ends at ${table.y + table.height}px, inside a 900px screen`);
  const toc = await page.locator('#toc a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  const charts = await page.locator('section.chart[id]').evaluateAll((ss) => ss.map((s) => `#${s.id}`));
  assert.deepEqual(toc, charts, 'the contents list every chart, in order');
  for (const id of ['em', 'sycophancy-em', 'direction-comparison', 'steering-transfer', 'refusal', 'gating', 'steering-sweep', 'phase-transition']) {
    assert.ok(((await page.locator(`section#${id} > p.reading`).textContent()) ?? '').length > 20, `${id} reads its result in a sentence`);
  }
  // a claim this organism fails is said in words, and one it holds is marked so
  assert.match((await page.locator('#claim-resistance').textContent())!, /✗.*Inverse alignment is not easier here/s);
  assert.match((await page.locator('#claim-phase').textContent())!, /✓.*a turn at step 53 of 300/s);
  assert.deepEqual(errors, []);
  await page.close();
});

test('every figure of the summary equals its chart\'s data (the JSON download), and every ✓ / ✗ is its rule', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/runs/organism-demo`);
  await page.waitForSelector('body[data-ready]');
  const downloaded = new Map<string, Record<string, unknown>[]>();
  const chartData = async (id: string) => {
    if (!downloaded.has(id)) {
      // a page of its own per download: Chromium's download limiter dropped the eleventh click of one page now and then
      const own = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await own.goto(`${base}/runs/organism-demo`);
      await own.waitForSelector('body[data-ready]');
      const [dl] = await Promise.all([own.waitForEvent('download'), own.locator(`section#${id} .downloads button`, { hasText: 'JSON' }).click()]);
      downloaded.set(id, JSON.parse(readFileSync((await dl.path())!, 'utf8')));
      await own.close();
    }
    return downloaded.get(id)!;
  };
  type Check = { what: string; value: number; op: string; threshold: number; pass: boolean };
  type Figure = { label: string; value: number; chart: string; where: Record<string, unknown>; field: string };
  const rows = await page.locator('tr.claim').evaluateAll((trs) => trs.map((tr) => ({
    id: (tr as HTMLElement).dataset.claim!, status: (tr as HTMLElement).dataset.status!, mark: tr.querySelector('.mark')!.textContent,
    figures: JSON.parse((tr as HTMLElement).dataset.figures!), checks: JSON.parse((tr as HTMLElement).dataset.checks!),
    text: tr.querySelector('.measured > span')!.textContent!, link: tr.querySelector('a')?.getAttribute('href') ?? null,
  })));
  assert.ok(rows.length >= 9);
  let figuresChecked = 0;
  for (const r of rows as { id: string; status: string; mark: string; figures: Figure[]; checks: Check[]; text: string; link: string | null }[]) {
    const holds = (k: Check) => (k.op === '>=' ? k.value >= k.threshold : k.op === '<=' ? k.value <= k.threshold : k.op === '>' ? k.value > k.threshold : k.value < k.threshold);
    const status = r.checks.length === 0 ? 'n/a' : r.checks.every(holds) ? 'pass' : 'fail';
    assert.equal(r.status, status, `${r.id}: the rule's checks say ${status}`);
    assert.equal(r.mark, { pass: '✓', fail: '✗', 'n/a': '—' }[status], r.id);
    for (const f of r.figures) {
      const data = await chartData(f.chart);
      const row = data.find((d) => Object.entries(f.where).every(([k, v]) => d[k] === v));
      assert.ok(row, `${r.id}: ${f.label}: no row ${JSON.stringify(f.where)} in ${f.chart}'s data`);
      assert.equal(row![f.field], f.value, `${r.id}: ${f.label}`);
      figuresChecked++;
    }
    const shown = new Set(r.figures.map((f) => `${(100 * f.value).toFixed(1)}%`));
    for (const m of r.text.match(/\d+\.\d%/g) ?? []) assert.ok(shown.has(m), `${r.id}: ${m} in "${r.text}" is one of its figures`);
    // a claim links to its chart: the one its figures come from (a failed claim may have none: no turn of B found)
    if (r.status !== 'n/a') assert.ok(r.figures.length ? r.link === `#${r.figures[0].chart}` : r.link?.startsWith('#'), `${r.id} links to its chart`);
  }
  assert.ok(figuresChecked > 30, `${figuresChecked} figures checked`);
  await page.close();
});

test('the index: one row per run with its own name and headline figures in columns, sorted by a click', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready]');
  const report = JSON.parse(readFileSync(join(DEMO, 'report.json'), 'utf8')) as { name: string };
  const demoRow = page.locator('#runs tbody tr', { has: page.locator('a[href="/runs/organism-demo"]') });
  assert.match((await demoRow.textContent())!, new RegExp(report.name));
  const heads = await page.locator('#runs thead th').allTextContents();
  for (const h of ['run', 'claims', 'best narrow EM', 'sycophancy EM', 'transfer cut']) assert.ok(heads.includes(h), `${h} in ${heads}`);
  const col = heads.indexOf('best narrow EM');
  const values = async () => page.locator('#runs tbody tr').evaluateAll((trs, c) => trs.map((tr) => (tr as HTMLTableRowElement).cells[c]?.dataset.value ?? ''), col);
  await page.locator('#runs thead th').nth(col).click();
  const desc = (await values()).filter((v) => v !== '').map(Number);
  assert.ok(desc.length >= 2 && desc.every((v, i) => i === 0 || desc[i - 1] >= v), `descending: ${desc}`);
  await page.locator('#runs thead th').nth(col).click();
  const asc = (await values()).filter((v) => v !== '').map(Number);
  assert.deepEqual(asc, [...desc].reverse());
  await page.close();
});

test('emlens export writes one HTML that renders the same charts with the server stopped', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'emlens-export-')), 'report.html');
  // any folder exports, whatever its name (the server's run names are stricter: they are URLs)
  const folder = join(mkdtempSync(join(tmpdir(), 'emlens-export-')), 'my run');
  cpSync(join(runs, 'quick-study'), folder, { recursive: true, filter: (src) => !/escape|secret-link/.test(src) });
  const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), 'export', folder, '--html', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!readFileSync(out, 'utf8').includes('href="/"'), 'no link to a server the file does not have');
  const live = await browser.newPage();
  await live.goto(`${base}/runs/quick-study`);
  await live.waitForSelector('body[data-ready]');
  const sels = ['section.chart', 'svg rect', 'svg circle', 'svg path'];
  const counts = await Promise.all(sels.map((s) => live.locator(s).count()));
  await live.close();
  await new Promise((ok) => server.close(ok)); // the export must not need the server
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (q) => errors.push(`request ${q.url()}`));
  await page.goto(`file://${out}`);
  await page.waitForSelector('body[data-ready]');
  for (const [i, sel] of sels.entries()) assert.equal(await page.locator(sel).count(), counts[i], sel);
  assert.deepEqual(errors, []);
  await page.close();
});
