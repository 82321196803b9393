// The queue's Redis: the --queue URL parsed (redis://[:password@]host[:port][/db], rediss:// for TLS), redacted for
// every log and error, and turned into connections that fail with one clear error instead of hanging. No tensor axes.
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'bullmq';
import { UsageError, UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';

/** Where the queue lives; `shown` is the URL with any user name and password replaced, the only form ever printed. */
export interface QueueTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  shown: string;
}

/** BullMQ's queue name and the prefix of every key emlens writes (jobs, artefacts, results, checkpoints). */
export const QUEUE_NAME = 'emlens-steps';
export const KEY_PREFIX = 'emlens';

export function parseQueueUrl(url: string, param = 'options.queue'): QueueTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new EmlensError(param, 'not a URL (expected redis://HOST[:PORT][/DB])', { exitCode: 2 });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new EmlensError(param, `${u.protocol}// is not a Redis URL (expected redis://HOST[:PORT][/DB])`, { exitCode: 2 });
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw new EmlensError(param, 'the database after the host must be a number (redis://HOST:6379/0)', { exitCode: 2 });
  const port = u.port ? Number(u.port) : 6379;
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const hasAuth = u.username !== '' || u.password !== '';
  const shown = `${u.protocol}//${hasAuth ? '***@' : ''}${u.hostname}:${port}/${dbText || '0'}`;
  return {
    host, port, db: dbText ? Number(dbText) : 0, tls: u.protocol === 'rediss:', shown,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** Replaces the password of any redis:// URL in a text (an error message from a library, say) with ***. */
export function redact(text: string): string {
  return text.replace(/(rediss?:\/\/)[^@\s/]*@/g, '$1***@');
}

export interface ConnectOptions {
  /** Worker connections wait for Redis to come back (BullMQ needs maxRetriesPerRequest null on them); a study's give up. */
  role: 'worker' | 'client';
  /** How long a client keeps reconnecting before its commands fail (ms). */
  giveUpAfterMs?: number;
}

/** ioredis options for a target: a connect timeout, and reconnects that end (clients) or back off (workers). */
export function redisOptions(t: QueueTarget, o: ConnectOptions): RedisOptions {
  const giveUp = o.giveUpAfterMs ?? 5000;
  return {
    host: t.host, port: t.port, db: t.db,
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(t.tls ? { tls: {} } : {}),
    connectTimeout: 3000,
    maxRetriesPerRequest: o.role === 'worker' ? null : 2,
    // a client retries about giveUp ms in all (a Redis restart), then its pending and later commands fail
    retryStrategy: (times: number) => (o.role === 'worker' ? Math.min(times * 500, 5000) : times * 250 > giveUp ? null : 250),
  };
}

/** The same options as BullMQ takes them (it opens its own connections with them). */
export function bullConnection(t: QueueTarget, o: ConnectOptions): ConnectionOptions {
  return redisOptions(t, o) as unknown as ConnectionOptions;
}

/** A connection that has answered PING, or one UserError naming the (redacted) URL and why. */
export async function connect(t: QueueTarget, o: ConnectOptions): Promise<Redis> {
  const r = new Redis({ ...redisOptions(t, { ...o, giveUpAfterMs: 0 }), lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  let last: Error | undefined;
  r.on('error', (e: Error) => (last = e));
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    r.disconnect();
    throw unreachable(t, last ?? (e as Error));
  }
  r.disconnect();
  // the long-lived one: reconnects as its role says
  const live = new Redis(redisOptions(t, o));
  live.on('error', () => undefined); // surfaced by the commands that fail
  return live;
}

export function unreachable(t: QueueTarget, e: Error | undefined): UserError {
  const why = e ? redact((e as NodeJS.ErrnoException).code ?? e.message) : 'no answer';
  return new UserError(`the queue at ${t.shown} is unreachable (${why}); is redis-server running there?`);
}

/** Where this process is: host and pid (and a name given with --name), for logs and job records. */
export function processId(name?: string): string {
  return `${name ?? hostname()}:${process.pid}`;
}
