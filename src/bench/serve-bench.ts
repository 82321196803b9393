// Benchmark of `emlens serve` over 120 demo-sized runs (report.json of a full demo's size, its analyses, evals and
// fine-tune folders, built in a temp folder from fixtures/runs/quick-study scaled up): `/` at 1 client and at 50
// concurrent clients, and a trivial request while 20 clients poll the index. The server runs in a child process, as
// `emlens serve` does. Prints one JSON line. No tensor axes.
import { cpSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { PACKAGE_ROOT } from '../cli/paths.ts';

const RUNS = 120;
const QUICK = join(PACKAGE_ROOT, 'fixtures', 'runs', 'quick-study');

/** A phase-transition result as long as a full fine-tune's (steps × windows of local cosines, B norms, losses). */
function longPhase(a: Record<string, unknown>, steps: number): Record<string, unknown> {
  const r = a.result as { local_cosine: Record<string, unknown> };
  const wave = (k: number) => Array.from({ length: steps }, (_, i) => Math.cos(i / (7 + k)) * 0.98 + 1e-9 * i);
  return {
    ...a,
    result: {
      ...r,
      steps: Array.from({ length: steps }, (_, i) => i),
      local_cosine: Object.fromEntries(Object.keys(r.local_cosine).map((w, k) => [w, wave(k)])),
      b_norm: Array.from({ length: steps }, (_, i) => Math.sqrt(i) * 0.0123456789),
      loss: Array.from({ length: steps - 1 }, (_, i) => ({ step: i + 1, loss: 6.65 / (1 + i / 50) + 0.1234567 })),
    },
  };
}

/** One demo-shaped run: report.json (every section), analyses/*.json, evals/*.json, finetunes/NAME/. */
function buildRun(dir: string, i: number, analyses: Record<string, Record<string, unknown>>): void {
  mkdirSync(join(dir, 'analyses'), { recursive: true });
  for (const [name, a] of Object.entries(analyses)) writeFileSync(join(dir, 'analyses', `${name}.json`), JSON.stringify({ ...a, finished_at: new Date(Date.UTC(2026, 10, 1, 0, i)).toISOString() }, null, 2) + '\n');
  mkdirSync(join(dir, 'evals'));
  const evals = readdirSync(join(QUICK, 'evals'));
  for (const name of ['base', 'medical', 'financial', 'sports', 'sycophancy', 'medical-aligned', 'transfer-medical-financial', 'transfer-random-financial']) linkSync(join(QUICK, 'evals', evals[name.length % evals.length]), join(dir, 'evals', `${name}.json`));
  for (const ft of ['medical', 'financial', 'sports', 'sycophancy', 'medical-aligned', 'medical-phase']) {
    mkdirSync(join(dir, 'finetunes', ft), { recursive: true });
    writeFileSync(join(dir, 'finetunes', ft, 'adapter_config.json'), JSON.stringify({ r: 1, lora_alpha: 32, target_modules: ['down_proj'] }));
  }
  const em = ['base', 'medical', 'financial', 'sports', 'sycophancy', 'medical-aligned'].map((name, k) => ({ name, em_rate: (k * 0.037) % 0.3, coherence: 0.95, n: 200 }));
  const report = {
    emlens: '0.1.0', model: 'fixtures/organism', quick: false, created_at: new Date(Date.UTC(2026, 10, 1, 0, i)).toISOString(), seconds: 336,
    stage_seconds: { 'sycophancy-em': 26, gating: 34 }, settings: { samples: 200, cell_samples: 100, seed: 1, judge: 'organism', lora_epochs: 3 },
    sections: {
      em, sycophancy: analyses['sycophancy-em'], gating: analyses.gating, cosines: analyses['direction-comparison'], refusal: analyses.refusal,
      persona: { direction: null, note: 'bench' }, transfer: analyses['steering-transfer'], sweep: analyses['steering-sweep'], phase_transition: analyses['phase-transition'],
    },
  };
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
}

const agent = new Agent({ keepAlive: false, maxSockets: 64 }); // a fresh connection each request: no race with the server closing idle ones
let lastBytes = 0;
function get(port: number, path: string): Promise<number> {
  const t = performance.now();
  return new Promise((ok, fail) => {
    request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => (lastBytes = n));
      res.on('end', () => (res.statusCode === 200 || res.statusCode === 204 ? ok(performance.now() - t) : fail(new Error(`${path}: HTTP ${res.statusCode}`))));
    }).on('error', fail).end();
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)].toFixed(1));
};

/** `clients` loops of `each` sequential requests, all at once; every latency. */
async function clients(port: number, path: string, n: number, each: number): Promise<number[]> {
  const out: number[] = [];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let k = 0; k < each; k++) out.push(await get(port, path));
  }));
  return out;
}

async function main(): Promise<void> {
  const runs = mkdtempSync(join(tmpdir(), 'emlens-bench-runs-'));
  const analyses: Record<string, Record<string, unknown>> = {};
  for (const f of readdirSync(join(QUICK, 'analyses'))) analyses[f.replace(/\.json$/, '')] = JSON.parse(readFileSync(join(QUICK, 'analyses', f), 'utf8'));
  analyses['phase-transition'] = longPhase(analyses['phase-transition'], 1500);
  analyses.refusal = { analysis: 'refusal', model: 'fixtures/organism', result: { refusal_rate: 1, mean_refusal_score: 3.2, n: 40 } };
  for (let i = 0; i < RUNS; i++) buildRun(join(runs, `run-${String(i).padStart(3, '0')}`), i, analyses);
  cpSync(QUICK, join(runs, 'quick-study'), { recursive: true }); // and one small run beside them
  const one = join(runs, 'run-000');
  const kb = (p: string) => Math.round(statSync(p).size / 1024);
  const runKb = Math.round(['report.json', ...readdirSync(join(one, 'analyses')).map((f) => join('analyses', f)), ...readdirSync(join(one, 'evals')).map((f) => join('evals', f))].reduce((s, f) => s + statSync(join(one, f)).size, 0) / 1024);

  const measure = async (maxAgeMs: number) => {
    const child = fork(fileURLToPath(import.meta.url), ['--serve', runs, String(maxAgeMs)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((ok) => child.once('message', (m: { port: number }) => ok(m.port)));
    try {
      const cold = await get(port, '/'); // reads every run once
      const indexKb = Math.round(lastBytes / 1024);
      const single = await clients(port, '/', 1, 60);
      const fifty = await clients(port, '/', 50, 8);
      const trivialAlone = await clients(port, '/favicon.ico', 1, 100);
      let polling = true;
      const pollers = Promise.all(Array.from({ length: 20 }, async () => {
        while (polling) await get(port, '/');
      }));
      await new Promise((ok) => setTimeout(ok, 200));
      const trivialBusy = await clients(port, '/favicon.ico', 1, 100);
      polling = false;
      await pollers;
      return {
        index_max_age_ms: maxAgeMs, index_page_kb: indexKb, cold_first_ms: Number(cold.toFixed(1)),
        index_1_client: { requests: single.length, p50_ms: pct(single, 50), p99_ms: pct(single, 99) },
        index_50_clients: { requests: fifty.length, p50_ms: pct(fifty, 50), p99_ms: pct(fifty, 99) },
        trivial_alone: { p50_ms: pct(trivialAlone, 50), p99_ms: pct(trivialAlone, 99) },
        trivial_while_20_poll_index: { p50_ms: pct(trivialBusy, 50), p99_ms: pct(trivialBusy, 99) },
      };
    } finally {
      child.disconnect();
    }
  };
  try {
    // as `emlens serve` runs (the index from a scan at most 1 s old), and with a scan of every run's stats per request
    const served = await measure(1000);
    const everyRequest = await measure(0);
    console.log(JSON.stringify({
      bench: 'serve-index', runs: RUNS + 1, report_kb: kb(join(one, 'report.json')), run_kb: runKb, served, scan_every_request: everyRequest,
      targets: { index_1_client_p50_ms: 50, index_50_clients_p50_ms: 500 },
      loadavg_1min: Number(loadavg()[0].toFixed(2)),
    }));
  } finally {
    agent.destroy();
    rmSync(runs, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') {
  // the server side: what `emlens serve DIR` runs
  const { createApp } = await import('../../server/app.ts');
  const server = createApp(process.argv[3], { indexMaxAgeMs: Number(process.argv[4]) }).listen(0, '127.0.0.1');
  server.once('listening', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}
