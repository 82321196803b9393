// `npm run bench:queue`: the --quick demo through the job queue with 1 and then 2 `emlens worker` processes on a
// redis-server of its own (a free loopback port): wall time, and per job the enqueue → start latency when a worker was
// free and the artefact transfer (inputs up and results back, by the study and by the worker). No tensor axes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../backend/select.ts';
import { runDemo } from '../study/demo.ts';
import { ANALYSES } from '../../analyses/index.ts';
import { QueueSteps, type JobRecord } from '../queue/coordinator.ts';
import { parseQueueUrl } from '../queue/connection.ts';
import { resolveModelDir } from '../cli/model-options.ts';
import { PACKAGE_ROOT } from '../cli/paths.ts';

const args = process.argv.slice(2);
const model = resolveModelDir(args.includes('--model') ? args[args.indexOf('--model') + 1] : undefined);
const counts = (args.includes('--workers') ? args[args.indexOf('--workers') + 1] : '1,2').split(',').map(Number);

function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}

const median = (xs: number[]) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not on PATH (apt-get install redis-server)');
  await initBackend('wasm', { quiet: true });
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'emlens-bench-redis-'));
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((ok) => setTimeout(ok, 500));
  const rows: string[] = [];
  try {
    for (const [i, n] of counts.entries()) {
      const url = `redis://127.0.0.1:${port}/${i}`; // a database of its own: nothing cached from the run before
      const workers: ChildProcess[] = [];
      let ready = 0;
      await new Promise<void>((ok) => {
        for (let w = 0; w < n; w++) {
          const p = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), 'worker', '--queue', url, '--name', `bench${w}`, '--work-dir', mkdtempSync(join(tmpdir(), 'emlens-bench-w-'))], { stdio: ['ignore', 'ignore', 'pipe'] });
          let said = false;
          p.stderr!.on('data', (d: Buffer) => {
            if (!said && /taking steps/.test(String(d))) {
              said = true;
              if (++ready === n) ok();
            }
          });
          workers.push(p);
        }
      });
      const out = mkdtempSync(join(tmpdir(), 'emlens-bench-run-'));
      const load0 = loadavg()[0];
      let steps: QueueSteps | undefined;
      const t0 = Date.now();
      try {
        await runDemo({ analyses: ANALYSES, out, modelDir: model, quick: true, quiet: true, prepare: async (ws) => {
          steps = await QueueSteps.open({ target: parseQueueUrl(url), modelDir: ws.modelDir, quiet: true });
          ws.steps = steps;
        } });
      } finally {
        await steps?.close();
        workers.forEach((w) => w.kill('SIGTERM'));
      }
      const wall = (Date.now() - t0) / 1000;
      const jobs = [...steps!.jobs.values()].filter((j) => !j.cached && j.added !== undefined && j.started !== undefined);
      // enqueue → start when a worker was free at enqueue time (fewer than n jobs running then)
      const freeAt = (j: JobRecord) => jobs.filter((k) => k !== j && k.started! <= j.added! && (k.finished ?? Infinity) > j.added!).length < n;
      const latency = jobs.filter(freeAt).map((j) => j.started! - j.added!);
      const transfer = jobs.map((j) => j.upload_ms + j.download_ms + (j.result?.timing.fetch_ms ?? 0) + (j.result?.timing.put_ms ?? 0));
      const row = {
        workers: n, wall_s: wall, jobs: jobs.length,
        finetunes: jobs.filter((j) => j.kind === 'finetune').length, evals: jobs.filter((j) => j.kind === 'eval').length,
        start_latency_free_ms: { median: median(latency), n: latency.length, max: Math.max(...latency) },
        transfer_ms: { median: median(transfer), max: Math.max(...transfer) },
        overhead_ms_median: median(latency) + median(transfer),
        load_1min: { before: load0, after: loadavg()[0] }, cores: availableParallelism(),
      };
      console.log(JSON.stringify(row));
      rows.push(`| ${n} | ${wall.toFixed(0)} s | ${jobs.length} (${row.finetunes} fine-tunes, ${row.evals} evals) | ${row.start_latency_free_ms.median.toFixed(0)} ms (max ${row.start_latency_free_ms.max.toFixed(0)}) | ${row.transfer_ms.median.toFixed(0)} ms (max ${row.transfer_ms.max.toFixed(0)}) | ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)} |`);
      rmSync(out, { recursive: true, force: true });
    }
  } finally {
    redis.kill('SIGTERM');
  }
  console.log('\n| workers | wall | jobs | enqueue → start (worker free), median | transfer per job, median | load (1 min) |\n| --- | --- | --- | --- | --- | --- |');
  console.log(rows.join('\n'));
}

main().then(() => process.exit(0), (e) => {
  console.error(`bench:queue: ${(e as Error).message}`);
  process.exit(1);
});
