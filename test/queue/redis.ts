// Test helpers for the queue: a real redis-server on a free loopback port (its own temp folder, persistence when
// asked), emlens processes (workers, studies) and their logs. No tensor axes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';

export const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
export const INSTALL = 'apt-get install redis-server';

/** Why the queue tests cannot run here (no redis-server on PATH), or undefined. */
export function redisMissing(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (!r.error && r.status === 0) return undefined;
  const why = `redis-server is not on PATH; install it with \`${INSTALL}\``;
  // CI (.ci/run) installs it and sets EMLENS_REQUIRE_REDIS: there a missing server fails the tests instead of skipping.
  if (process.env.EMLENS_REQUIRE_REDIS) throw new Error(`EMLENS_REQUIRE_REDIS is set but ${why}`);
  return `SKIPPED: ${why} (CI does)`;
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  proc: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and folder (its append-only file, when persistent). */
  restart(): Promise<RedisServer>;
}

/** redis-server on a free loopback port; `persistent`: append-only file in its own folder, fsync on every write. */
export async function startRedis(o: { persistent?: boolean; password?: string; port?: number; dir?: string } = {}): Promise<RedisServer> {
  const port = o.port ?? (await freePort());
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'emlens-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--protected-mode', 'no'];
  args.push(...(o.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  if (o.password) args.push('--requirepass', o.password);
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  await new Promise<void>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`redis-server did not start: ${out}`)), 10_000);
    const check = () => {
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(t);
        ok();
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (c) => {
      clearTimeout(t);
      fail(new Error(`redis-server exited (${c}): ${out}`));
    });
  });
  const server: RedisServer = {
    port, dir, proc,
    url: `redis://${o.password ? `:${o.password}@` : ''}127.0.0.1:${port}`,
    stop: (signal = 'SIGTERM') => new Promise((ok) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return ok();
      proc.once('exit', () => ok());
      proc.kill(signal);
    }),
    restart: () => startRedis({ ...o, port, dir }),
  };
  return server;
}

export interface Proc {
  proc: ChildProcess;
  log(): string;
  /** Resolves with the exit code (or the signal) once the process ends. */
  exited: Promise<number | string>;
  /** Resolves when the log matches `re` (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
}

/** An emlens process with its stdout and stderr kept (`cwd`: its working folder). */
export function emlens(args: string[], cwd = PACKAGE_ROOT, env: NodeJS.ProcessEnv = {}): Proc {
  const proc = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let text = '';
  const waiters: { re: RegExp; ok: () => void }[] = [];
  const add = (d: Buffer) => {
    text += d;
    for (const w of [...waiters]) if (w.re.test(text)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.ok();
    }
  };
  proc.stdout!.on('data', add);
  proc.stderr!.on('data', add);
  const exited = new Promise<number | string>((ok) => proc.once('exit', (c, s) => ok(c ?? s ?? -1)));
  return {
    proc, exited, log: () => text,
    waitFor: (re, ms = 120_000) => new Promise((ok, fail) => {
      if (re.test(text)) return ok();
      const t = setTimeout(() => fail(new Error(`timed out waiting for ${re} in:\n${text.slice(-3000)}`)), ms);
      waiters.push({ re, ok: () => { clearTimeout(t); ok(); } });
    }),
  };
}

/** Stops processes started by a test (those still running). */
export async function stopAll(ps: Proc[], signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  await Promise.all(ps.map(async (p) => {
    if (p.proc.exitCode === null && p.proc.signalCode === null) {
      p.proc.kill(signal);
      await p.exited;
    }
  }));
}
