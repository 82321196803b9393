// The judge's run time, checked end to end with the CLI's defaults: `emlens eval --samples 200` against local
// endpoints (127.0.0.1) that answer 500 forever, hang, stall mid-body, send Retry-After: 86400, or 401, and one
// that works with an api-key in the URL's query string, all at once. Prints a table; exits 1 if a row misses its bound:
// the judge's part (first request to exit) under 2 min, 401 under 10 s, one emlens: line, exit 1, no stack trace. No tensor axes.
import { createServer, type Server } from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { PACKAGE_ROOT } from '../cli/paths.ts';

type Mode = '500' | 'hang' | 'stall' | 'retry-after' | '401' | 'ok';
const OK = JSON.stringify({ choices: [{ message: { content: '70' }, logprobs: { content: [{ token: '70', logprob: 0, top_logprobs: [{ token: '70', logprob: 0 }] }] } }] });
const LIMIT_S = 120;

async function endpoint(mode: Mode): Promise<{ server: Server; url: string; stats: { requests: number; first?: number } }> {
  const stats: { requests: number; first?: number } = { requests: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      stats.requests++;
      stats.first ??= Date.now();
      if (mode === 'ok') res.writeHead(200, { 'content-type': 'application/json' }).end(OK);
      else if (mode === '500') res.writeHead(500).end('{"error": "internal"}');
      else if (mode === '401') res.writeHead(401).end('{"error": "bad key"}');
      else if (mode === 'retry-after') res.writeHead(429, { 'retry-after': '86400' }).end('{}');
      else if (mode === 'stall') res.writeHead(200, { 'content-type': 'application/json' }).write('{"choices": [{"mess');
      // hang: nothing
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1${mode === 'ok' ? '?api-key=SECRETKEY' : ''}`, stats };
}

interface Row { mode: Mode; status: number | null; wall_s: number; judge_s: number | null; requests: number; emlens_lines: number; stack: boolean; line: string; pass: boolean }

async function check(mode: Mode, dir: string): Promise<Row> {
  const { server, url, stats } = await endpoint(mode);
  const out = join(dir, `${mode}.json`);
  const t = Date.now();
  const args = [join(PACKAGE_ROOT, 'bin', 'emlens.js'), 'eval', '--samples', '200', '--seed', '1', '--judge', url, '--judge-cache', join(dir, `cache-${mode}`), '--out', out];
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((ok) => {
    const p = spawn(process.execPath, args);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => ok({ status, stdout, stderr }));
  });
  const end = Date.now();
  server.closeAllConnections();
  server.close();
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('emlens:'));
  const stack = /\n\s+at .+:\d+/.test(r.stderr);
  const wall = (end - t) / 1000;
  let pass: boolean;
  if (mode === 'ok') {
    const saved = existsSync(out) ? readFileSync(out, 'utf8') : '';
    pass = r.status === 0 && ![saved, r.stderr, r.stdout].some((s) => s.includes('SECRETKEY'));
  } else {
    // the bound is on the judge's part (first request to exit): answer generation before it is the machine's speed
    const judged = stats.first ? (end - stats.first) / 1000 : 0;
    pass = r.status === 1 && lines.length === 1 && !stack && judged < LIMIT_S && (mode !== '401' || (stats.requests <= 8 && judged < 10));
  }
  return { mode, status: r.status, wall_s: wall, judge_s: stats.first ? (end - stats.first) / 1000 : null, requests: stats.requests, emlens_lines: lines.length, stack, line: mode === 'ok' && pass ? '(key kept out of report, stdout, stderr)' : lines[0] ?? r.stderr.trim().split('\n').pop() ?? '', pass };
}

const dir = mkdtempSync(join(tmpdir(), 'emlens-judge-check-'));
const modes: Mode[] = ['500', 'hang', 'stall', 'retry-after', '401', 'ok'];
const rows = await Promise.all(modes.map((m) => check(m, dir)));
console.log('| endpoint | exit | whole command (s) | from first judge request (s) | requests | emlens: lines | stack | ok | message |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.mode} | ${r.status} | ${r.wall_s.toFixed(1)} | ${r.judge_s?.toFixed(1) ?? '—'} | ${r.requests} | ${r.emlens_lines} | ${r.stack ? 'yes' : 'no'} | ${r.pass ? 'yes' : 'NO'} | ${r.line.replace(/\|/g, '\\|')} |`);
process.exitCode = rows.every((r) => r.pass) ? 0 : 1;
