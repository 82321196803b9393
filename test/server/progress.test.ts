// A queued study's progress on the report server, over real HTTP: a study still running is listed in the index with
// its steps and ETA (a folder with nothing but its RUN/queue-progress.json too), its page shows done / running /
// waiting / failed per stage, read-only, and reloads itself until the study ends, when its report takes the page's
// place; a progress file that is not one (symlink, half written) is ignored. In Chromium: the page reloads by itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../server/app.ts';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { PROGRESS_FILE, StudyProgress } from '../../src/queue/progress.ts';
import { PROGRESS_REFRESH_S } from '../../server/progress.ts';
import { launchChromium } from '../browser.ts';

let runs: string, server: Server, base: string;
/** The progress of a study that has just started: written by the study's own writer, as `run --queue` writes it. */
let fresh: StudyProgress;

before(async () => {
  runs = mkdtempSync(join(tmpdir(), 'emlens-progress-runs-'));
  mkdirSync(join(runs, 'running'));
  fresh = new StudyProgress(true, 0, join(runs, 'running', PROGRESS_FILE));
  fresh.add('f1', 'finetune');
  fresh.add('f2', 'finetune');
  fresh.add('e1', 'eval', true);
  fresh.add('x1', 'extract');
  fresh.set('f1', 'running');
  fresh.set('f1', 'done');
  fresh.set('f2', 'running');
  // a study half done: analyses written, still running; and one that has ended
  const quick = join(PACKAGE_ROOT, 'fixtures', 'runs', 'quick-study');
  cpSync(quick, join(runs, 'half'), { recursive: true });
  const half = new StudyProgress(true, 0, join(runs, 'half', PROGRESS_FILE));
  half.add('a', 'eval');
  half.set('a', 'failed');
  cpSync(quick, join(runs, 'ended'), { recursive: true });
  const ended = new StudyProgress(true, 0, join(runs, 'ended', PROGRESS_FILE));
  ended.add('a', 'eval');
  ended.flush();
  // progress files that are not one: half written, a symlink out of the run
  cpSync(quick, join(runs, 'torn'), { recursive: true });
  writeFileSync(join(runs, 'torn', PROGRESS_FILE), '{"kinds": {"eval": {"done": 1');
  cpSync(quick, join(runs, 'linked'), { recursive: true });
  symlinkSync(join(runs, 'running', PROGRESS_FILE), join(runs, 'linked', PROGRESS_FILE));
  server = createApp(runs, { indexMaxAgeMs: 0 }).listen(0, '127.0.0.1');
  await new Promise((ok) => server.once('listening', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  if (server?.listening) server.close();
});

const get = async (path: string) => {
  const r = await fetch(base + path);
  return { status: r.status, refresh: r.headers.get('refresh'), csp: r.headers.get('content-security-policy'), text: await r.text() };
};

test('the index lists a running study (even one with no results yet) with its steps done and running', async () => {
  const list = (await (await fetch(`${base}/api/runs`)).json()) as { name: string; progress?: { summary: string; stages: { stage: string }[] } | null }[];
  const by = Object.fromEntries(list.map((r) => [r.name, r]));
  assert.deepEqual(Object.keys(by).sort(), ['ended', 'half', 'linked', 'running', 'torn']);
  assert.equal(by.running.progress!.summary, 'running: 2 of 4 steps done, 1 running');
  assert.deepEqual(by.running.progress!.stages.map((s) => s.stage), ['finetune', 'eval', 'extract']);
  assert.equal(by.half.progress!.summary, 'running: 0 of 1 steps done, 0 running, 1 failed');
  for (const n of ['ended', 'torn', 'linked']) assert.equal(by[n].progress, null, n);
  const index = await get('/');
  assert.match(index.text, /<a href="\/runs\/running">running<\/a><div class="small running">running: 2 of 4 steps done, 1 running<\/div>/);
  assert.equal((index.text.match(/class="small running"/g) ?? []).length, 2);
});

test("a running study's page: steps by stage, read-only, reloading; the same figures as JSON", async () => {
  const page = await get('/runs/running');
  assert.equal(page.status, 200);
  assert.equal(page.refresh, String(PROGRESS_REFRESH_S));
  assert.match(page.csp ?? '', /form-action 'none'/);
  const row = (stage: string) => new RegExp(`<tr><td>${stage}</td>${'<td class="num">(\\d+)</td>'.repeat(5)}`).exec(page.text)?.slice(1).map(Number);
  assert.deepEqual(row('fine-tunes'), [1, 1, 0, 0, 2]); // done, running, waiting, failed, of
  assert.deepEqual(row('evals'), [1, 0, 0, 0, 1]);
  assert.deepEqual(row('direction extractions'), [0, 0, 1, 0, 1]);
  assert.match(page.text, /<span id="eta">not known yet/); // no extraction has finished: its time is unknown
  assert.match(page.text, /Analyses finished: none yet/);
  assert.doesNotMatch(page.text, /<(script|form|button|input|select|textarea)\b/i, 'no controls, no script');
  const half = await get('/runs/half');
  assert.match(half.text, /<td class="num err">1<\/td>/);
  assert.match(half.text, /Analyses finished: <code>direction-comparison<\/code>/);
  const json = (await (await fetch(`${base}/api/runs/running/progress`)).json()) as { stages: { stage: string; done: number }[] };
  assert.deepEqual(json.stages.map((s) => [s.stage, s.done]), [['finetune', 1], ['eval', 1], ['extract', 0]]);
  assert.equal(await (await fetch(`${base}/api/runs/ended/progress`)).json(), null);
  assert.equal((await get('/api/runs/..%2fetc/progress')).status, 404);
  assert.equal((await get('/api/runs/nowhere/progress')).status, 404);
});

test('an ended study, or a progress file that is not one, shows its report page as before', async () => {
  for (const n of ['ended', 'torn', 'linked']) {
    const page = await get(`/runs/${n}`);
    assert.equal(page.status, 200, n);
    assert.equal(page.refresh, null, n);
    assert.match(page.text, /id="charts"/, n);
  }
});

test('in Chromium the running page reloads by itself and shows the study as it goes on, then its report page', async (t) => {
  const { browser } = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${base}/runs/running`);
  assert.equal(await page.locator('#progress tbody tr').count(), 3);
  fresh.set('f2', 'done');
  await page.waitForFunction(() => document.querySelector('#progress tbody tr td:nth-child(2)')?.textContent === '2', undefined, { timeout: (PROGRESS_REFRESH_S + 10) * 1000 });
  assert.match((await page.locator('#eta').textContent()) ?? '', /\d+s|—|not known/);
  // the study ends (its folder has no results: an empty report page), and the next reload shows that page
  fresh.flush();
  await page.waitForSelector('#charts', { timeout: (PROGRESS_REFRESH_S + 10) * 1000 });
  assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
});
