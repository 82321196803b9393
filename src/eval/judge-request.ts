// The HTTP judge's request policy: one POST whose deadline covers headers and body, retries of what can succeed
// (429, 408, 5xx, timeouts, malformed replies) with backoff and a capped, logged Retry-After inside a deadline for the
// whole call, no retry of what cannot (other 4xx, a URL with credentials, a malformed endpoint), a concurrency limiter
// that lets go of waiting calls on abort, and the URL's public form (no credentials, no key from the query string).
// No tensor axes.
import { UsageError, UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';

export interface RequestPolicy {
  /** One try, from sending to the last byte of the body (ms). Default 60 s. */
  timeoutMs?: number;
  /** Tries after the first. Default 5. */
  retries?: number;
  /** First backoff in ms, doubled each retry (a Retry-After header wins, up to maxRetryAfterMs). Default 500. */
  backoffMs?: number;
  /** The longest Retry-After obeyed (ms); a longer one is cut to this and logged. Default 60 s. */
  maxRetryAfterMs?: number;
  /** All tries of one call, waits included (ms): past it the call fails. Default 90 s. */
  deadlineMs?: number;
}

export const DEFAULT_POLICY: Required<RequestPolicy> = { timeoutMs: 60_000, retries: 5, backoffMs: 500, maxRetryAfterMs: 60_000, deadlineMs: 90_000 };

/** A failure another try may not repeat (429, 408, 5xx, a timeout, a reset connection, a malformed reply). */
export class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs?: number, readonly retryAfterHeader?: string) {
    super(message);
  }
}

/** Query parameters that are not secrets and are kept as written (Azure's api-version); every other value is redacted. */
const PUBLIC_PARAMS = /^(api[-_]?version|version)$/i;
const REDACTED = 'REDACTED';

/**
 * The URL as it may be printed, stored in a report and hashed into a cache key: user:password@ and the value of every
 * query parameter but api-version replaced by REDACTED. A URL with neither is returned as written (old caches stay).
 */
export function publicUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    // unparseable: still never echo what looks like credentials or a query
    return raw.replace(/\/\/[^/?#]*@/, `//${REDACTED}@`).replace(/\?.*$/s, `?${REDACTED}`);
  }
  if (!u.username && !u.password && !u.search) return raw;
  if (u.username || u.password) {
    u.username = REDACTED;
    u.password = '';
  }
  for (const k of new Set(u.searchParams.keys())) if (!PUBLIC_PARAMS.test(k)) u.searchParams.set(k, REDACTED);
  return u.href;
}

/**
 * Checks a judge URL before any work: http(s), parseable, no credentials in it. Otherwise an EmlensError (exit 2)
 * naming `param`, the parameter that gave the URL (the CLI says it as --judge), with the URL shown redacted.
 */
export function checkEndpoint(raw: string, param = 'judge.url'): URL {
  const bad = (detail: string) => new EmlensError(param, detail, { value: publicUrl(raw), exitCode: 2 });
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad('not a URL (expected organism or an http(s) URL of an OpenAI-compatible endpoint)');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad('expected organism or an http(s) URL of an OpenAI-compatible endpoint');
  if (!u.hostname) throw bad('no host');
  if (u.username || u.password) throw bad('credentials in the URL are refused (they would be sent in clear and logged); give the key in $EMLENS_JUDGE_API_KEY');
  return u;
}

/** The chat-completions endpoint: the URL itself when its path names one, else its path + /chat/completions (before the query). */
export function chatCompletionsUrl(raw: string): string {
  const u = new URL(raw);
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = /\/chat\/completions$/.test(path) ? path : `${path}/chat/completions`;
  return u.href;
}

/** Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3), in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (header.trim() !== '' && Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** HTTP statuses another try can get past: request timeout, too early, rate limit, server errors but "not implemented". */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** The largest reply body read (a judge reply is a few KB). */
const MAX_BODY = 8 << 20;

async function readBody(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.byteLength;
    if (n > MAX_BODY) throw new RetryableError(`malformed reply (over ${MAX_BODY >> 20} MB)`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const reasonOf = (s: AbortSignal): Error => (s.reason instanceof Error ? s.reason : new UserError(String(s.reason ?? 'aborted')));

/**
 * One POST of a JSON body; resolves with the parsed JSON reply. The timeout covers the headers and the whole body (a
 * reply that stalls mid-body times out). Throws RetryableError for what another try might fix, UserError for a 4xx
 * (the message starts "HTTP 401 …"), and the abort reason of `signal` when it fires.
 */
export async function postJsonOnce(url: string, payload: unknown, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
  const timer = new AbortController();
  const t = setTimeout(() => timer.abort(), timeoutMs);
  const both = signal ? AbortSignal.any([signal, timer.signal]) : timer.signal;
  let status: number, retryAfter: string | null, text: string;
  try {
    const res = await fetch(url, { method: 'POST', signal: both, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload) });
    status = res.status;
    retryAfter = res.headers.get('retry-after');
    text = await readBody(res);
  } catch (e) {
    if (signal?.aborted) throw reasonOf(signal);
    if (timer.signal.aborted) throw new RetryableError(`no complete reply within ${seconds(timeoutMs)}`);
    if (e instanceof RetryableError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'ENOTFOUND') throw new UserError(`host not found (${cause.message ?? 'ENOTFOUND'})`);
    throw new RetryableError(`request failed: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  } finally {
    clearTimeout(t);
  }
  if (retryableStatus(status)) throw new RetryableError(`HTTP ${status}`, retryAfterMs(retryAfter), retryAfter ?? undefined);
  if (status < 200 || status >= 300) throw new UserError(`HTTP ${status} ${text.slice(0, 200)}`.trim());
  try {
    return JSON.parse(text);
  } catch {
    throw new RetryableError('malformed reply (not JSON)');
  }
}

export function seconds(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** Waits `ms`, or rejects with the abort reason as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((ok, fail) => {
    if (signal?.aborted) return fail(reasonOf(signal));
    const onAbort = () => {
      clearTimeout(t);
      fail(reasonOf(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      ok();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, fails for good, the retries run out, or the call's deadline passes; each try gets
 * the time left (at most timeoutMs). Errors are UserErrors starting with `label` (the public URL). `note` is told when
 * a Retry-After longer than the cap is cut.
 */
export async function withRetries<T>(attempt: (timeoutMs: number) => Promise<T>, policy: RequestPolicy, label: string, signal?: AbortSignal, note?: (retryAfter: string, waitMs: number) => void): Promise<T> {
  const p = Object.fromEntries(Object.entries(DEFAULT_POLICY).map(([k, v]) => [k, policy[k as keyof RequestPolicy] ?? v])) as Required<RequestPolicy>;
  const end = Date.now() + p.deadlineMs;
  let delay = p.backoffMs;
  for (let tries = 1; ; tries++) {
    if (signal?.aborted) throw reasonOf(signal);
    try {
      return await attempt(Math.max(1, Math.min(p.timeoutMs, end - Date.now())));
    } catch (e) {
      if (signal?.aborted) throw reasonOf(signal);
      if (!(e instanceof RetryableError)) throw e instanceof UserError ? new UserError(`${label}: ${e.message}`) : e;
      const after = `(after ${tries} ${tries === 1 ? 'try' : 'tries'})`;
      if (tries > p.retries) throw new UserError(`${label}: ${e.message} ${after}`);
      let wait = delay;
      if (e.retryAfterMs !== undefined) {
        wait = Math.min(e.retryAfterMs, p.maxRetryAfterMs);
        if (e.retryAfterMs > p.maxRetryAfterMs) note?.(e.retryAfterHeader ?? String(e.retryAfterMs / 1000), wait);
      }
      // a try that would have less than a second (or its whole timeout) is not worth starting
      const left = end - Date.now() - Math.min(p.timeoutMs, 1000);
      if (wait > left) throw new UserError(`${label}: ${e.message}; no judgement within ${seconds(p.deadlineMs)}${e.retryAfterHeader ? ` (Retry-After: ${e.retryAfterHeader})` : ''} ${after}`);
      await sleep(wait, signal);
      delay *= 2;
    }
  }
}

/** At most `max` calls at once; a waiting call leaves the queue (rejected with the reason) when its signal fires. */
export class Limiter {
  private active = 0;
  private readonly waiting: { go: () => void }[] = [];

  constructor(private readonly max: number) {
    if (!(Number.isInteger(max) && max >= 1)) throw new UsageError(`judge concurrency ${max}: expected an integer ≥ 1`);
  }

  async run<T>(f: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.active >= this.max) {
      await new Promise<void>((ok, fail) => {
        if (signal?.aborted) return fail(reasonOf(signal));
        const entry = { go: () => (signal?.removeEventListener('abort', onAbort), ok()) };
        const onAbort = () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          fail(reasonOf(signal!));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(entry); // the slot is handed over by the call that ends
      });
    } else this.active++;
    try {
      return await f();
    } finally {
      const next = this.waiting.shift();
      if (next) next.go();
      else this.active--;
    }
  }
}
