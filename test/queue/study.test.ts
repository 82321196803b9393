// A queued study against a real redis-server: `run sycophancy-em --queue` with three `emlens worker` processes gives
// the single-process run's report (every figure, same keys), evals (every answer and score), adapters (bytes) and EM
// directions (vectors, provenance), its extractions run by the workers too; and
// the same with artefacts in a blob folder, the workers in working folders of their own. Skipped, saying how to
// install it, where redis-server is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emlens, redisMissing, startRedis, stopAll, type Proc, type RedisServer } from './redis.ts';
import { Direction } from '../../src/directions/direction.ts';

const missing = redisMissing();
let root = '';
let model = '';
let single = '';
let redis: RedisServer | undefined;
const procs: Proc[] = [];
const PARAMS = JSON.stringify({ samples: 16 });

before(async () => {
  if (missing) return;
  root = mkdtempSync(join(tmpdir(), 'emlens-queue-'));
  model = join(root, 'organism');
  const built = emlens(['organism', 'build', '--quick', '--out', model]);
  assert.equal(await built.exited, 0, built.log());
  single = join(root, 'single');
  const run = emlens(['run', 'sycophancy-em', '--model', model, '--params', PARAMS, '--out', single, '--json']);
  assert.equal(await run.exited, 0, run.log());
  redis = await startRedis();
});

after(async () => {
  await stopAll(procs);
  await redis?.stop();
});

/** A run folder's results with this machine's run folder path taken out and timestamps dropped. */
function results(run: string): Record<string, unknown> {
  const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v).split(run).join('RUN'));
  const report = JSON.parse(readFileSync(join(run, 'analyses', 'sycophancy-em.json'), 'utf8'));
  delete report.started_at;
  delete report.finished_at;
  const evals = Object.fromEntries(readdirSync(join(run, 'evals')).sort().map((f) => {
    const { key: _k, ...e } = JSON.parse(readFileSync(join(run, 'evals', f), 'utf8'));
    return [f, strip(e)];
  }));
  const adapters = Object.fromEntries(readdirSync(join(run, 'finetunes')).sort().map((n) => [n, readFileSync(join(run, 'finetunes', n, 'adapter', 'adapter_model.safetensors')).toString('base64')]));
  const dir = join(run, 'directions');
  const directions = Object.fromEntries((existsSync(dir) ? readdirSync(dir) : []).filter((f) => f.endsWith('.safetensors')).sort().map((f) => {
    const d = Direction.load(join(dir, f));
    return [f, { vectors: d.vectors.map((v) => Buffer.from(Float32Array.from(v).buffer).toString('base64')), provenance: strip(d.provenance), key: readFileSync(join(dir, f.replace(/\.safetensors$/, '.key')), 'utf8') }];
  }));
  return { report: strip(report), evals, adapters, directions };
}

async function queuedStudy(db: number, extra: string[], workerDir: (i: number) => string): Promise<{ run: string; workers: Proc[]; study: Proc }> {
  const url = `${redis!.url}/${db}`;
  const workers = [0, 1, 2].map((i) => emlens(['worker', '--queue', url, '--name', `w${i}`, '--work-dir', join(workerDir(i), 'work'), ...extra], workerDir(i)));
  procs.push(...workers);
  await Promise.all(workers.map((w) => w.waitFor(/taking steps/, 300_000)));
  const run = join(root, `queued-${db}`);
  const study = emlens(['run', 'sycophancy-em', '--model', model, '--params', PARAMS, '--out', run, '--queue', url, '--json', ...extra]);
  assert.equal(await study.exited, 0, study.log());
  await stopAll(workers, 'SIGTERM');
  return { run, workers, study };
}

test('a study on three worker processes gives the single-process report, evals and adapters', async (t) => {
  if (missing) return t.skip(missing);
  const { run, workers, study } = await queuedStudy(0, [], () => mkdtempSync(join(tmpdir(), 'emlens-w-')));
  assert.deepEqual(results(run), results(single));
  // the steps ran on the workers, not here: 2 fine-tunes, 3 evals and the 2 fine-tunes' EM direction extractions, each once
  const ran = workers.map((w) => w.log().match(/: (finetune|eval|extract) \S+ \(job/g) ?? []).flat();
  assert.equal(ran.length, 7, workers.map((w) => w.log()).join('\n'));
  assert.deepEqual(ran.filter((r) => r.includes('extract')).map((r) => r.split(' ')[2]).sort(), ['em-medical-aligned', 'em-sycophancy']);
  assert.doesNotMatch(study.log(), /collect (misaligned|aligned)/, 'no activations were collected in the study process');
  assert.doesNotMatch(study.log(), /train:|eval: \d+%/, 'nothing was computed in the study process');
  assert.match(study.log(), /queue: .*finetune 2\/2 done/);
  const runJson = JSON.parse(readFileSync(join(run, 'finetunes', 'sycophancy', 'run.json'), 'utf8'));
  assert.match(runJson.queue.worker, /^w\d:\d+$/);
});

test('artefacts through a blob folder, workers in working folders of their own', async (t) => {
  if (missing) return t.skip(missing);
  const blobs = mkdtempSync(join(tmpdir(), 'emlens-blobs-'));
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'emlens-w-')));
  const { run } = await queuedStudy(1, ['--blob-dir', blobs, '--blob-threshold', '0'], (i) => dirs[i]);
  assert.deepEqual(results(run), results(single));
  // every artefact went to the folder (threshold 0), and no worker folder holds the study's run folder
  const shards = readdirSync(blobs).filter((d) => /^[0-9a-f]{2}$/.test(d));
  assert.ok(shards.length >= 5, `blob folder holds ${shards.length} shards`);
  for (const d of dirs) assert.ok(!existsSync(join(d, 'analyses')) && !readdirSync(join(d, 'work')).includes('finetunes'));
});

test('a worker killed (SIGKILL) mid-fine-tune: another resumes from its checkpoint, same adapter bytes', async (t) => {
  if (missing) return t.skip(missing);
  const url = `${redis!.url}/2`;
  // short locks, so that the dead worker's job is noticed in seconds
  const quick = ['--lock-duration', '4000', '--stalled-interval', '1000', '--checkpoint-interval', '200'];
  const a = emlens(['worker', '--queue', url, '--name', 'doomed', '--work-dir', mkdtempSync(join(tmpdir(), 'emlens-w-')), ...quick]);
  procs.push(a);
  await a.waitFor(/taking steps/, 60_000);
  const run = join(root, 'queued-killed');
  const study = emlens(['run', 'sycophancy-em', '--model', model, '--params', PARAMS, '--out', run, '--queue', url, '--json']);
  procs.push(study);
  await a.waitFor(/fine-tune sycophancy: checkpoint step \d+ saved to the store/, 120_000);
  a.proc.kill('SIGKILL');
  await a.exited;
  const saved = Math.max(...[...a.log().matchAll(/fine-tune sycophancy: checkpoint step (\d+) saved/g)].map((m) => Number(m[1])));
  const b = emlens(['worker', '--queue', url, '--name', 'rescuer', '--work-dir', mkdtempSync(join(tmpdir(), 'emlens-w-')), ...quick]);
  procs.push(b);
  assert.equal(await study.exited, 0, study.log());
  await stopAll([b], 'SIGTERM');
  // the checkpoint the dead worker sent last (a log line may have been cut by the kill: at least the last one logged)
  const resumed = Number(/fine-tune sycophancy resumes from checkpoint step (\d+) \(saved to the store by worker doomed:\d+\)/.exec(b.log())?.[1]);
  assert.ok(resumed >= saved && saved > 0, b.log());
  assert.match(b.log(), new RegExp(`resume: continuing .* from step ${resumed}`));
  const runJson = JSON.parse(readFileSync(join(run, 'finetunes', 'sycophancy', 'run.json'), 'utf8'));
  assert.equal(runJson.queue.resumed_from, resumed);
  assert.match(runJson.queue.worker, /^rescuer:/);
  for (const n of ['sycophancy', 'medical-aligned']) {
    assert.ok(readFileSync(join(run, 'finetunes', n, 'adapter', 'adapter_model.safetensors')).equals(readFileSync(join(single, 'finetunes', n, 'adapter', 'adapter_model.safetensors'))), `${n}: adapter bytes differ from the uninterrupted run`);
  }
  assert.deepEqual(results(run), results(single));
});
