// `emlens worker --queue URL [--concurrency N]`: computes queued study steps until Ctrl-C (or SIGTERM), and
// `emlens queue status|clean|retry --queue URL` for an operator. No tensor axes.
import type { Command } from 'commander';
import { Queue } from 'bullmq';
import { addBackendOption, startBackend } from '../model-options.ts';
import { addStoreOptions, blobThreshold, queueTarget, type QueueOpts } from '../queue-options.ts';
import { parseInteger } from '../parse.ts';
import { printResult } from '../output.ts';
import { startWorker, WORKER_DEFAULTS } from '../../queue/worker.ts';
import { bullConnection, connect, KEY_PREFIX, QUEUE_NAME, type QueueTarget } from '../../queue/connection.ts';
import { log, UsageError } from '../../util/log.ts';
import { DEFAULT_JUDGE_CACHE } from '../judge-options.ts';
import { JUDGE_API_KEY_ENV } from '../../eval/http-judge.ts';

export function registerWorker(program: Command): void {
  const cmd = program.command('worker').description('compute the fine-tunes, evals and direction extractions of queued studies (emlens run/demo --queue) until Ctrl-C');
  addStoreOptions(addBackendOption(cmd).option('--queue <redis-url>', 'redis://[:PASSWORD@]HOST[:PORT][/DB] (default: $EMLENS_QUEUE, which keeps a password out of ps)'))
    .option('--concurrency <n>', 'steps at a time in this process', '1')
    .option('--work-dir <dir>', "this worker's folder: fetched artefacts, fine-tunes in progress (default: a temporary folder)")
    .option('--name <name>', 'how this worker is named in logs and job records (default: the host name); the pid is added')
    .option('--lock-duration <ms>', "a running step's lock, renewed at half of it; a dead worker's step is retried once it lapses", String(WORKER_DEFAULTS.lockMs))
    .option('--stalled-interval <ms>', 'how often lapsed locks are looked for', String(WORKER_DEFAULTS.stalledMs))
    .option('--max-stalled <n>', 'times a step may lose its worker before it fails', String(WORKER_DEFAULTS.maxStalled))
    .option('--checkpoint-interval <ms>', "how often a fine-tune's new checkpoints are sent to the store", String(WORKER_DEFAULTS.checkpointMs))
    .option('--judge-cache <dir>', `where the judgements of a study's HTTP judge are cached here (its key: $${JUDGE_API_KEY_ENV} of this worker, never sent through the queue)`, DEFAULT_JUDGE_CACHE)
    .action(async (o: QueueOpts & { queue?: string; backend: string; concurrency: string; workDir?: string; name?: string; lockDuration: string; stalledInterval: string; maxStalled: string; checkpointInterval: string; judgeCache: string }) => {
      const target = queueTarget({ queue: queueUrl(o) })!;
      const n = (v: string, flag: string, min: number) => parseInteger(v, flag, min);
      const opts = {
        target, concurrency: n(o.concurrency, '--concurrency', 1), blobDir: o.blobDir, threshold: blobThreshold(o), workDir: o.workDir, name: o.name,
        lockMs: n(o.lockDuration, '--lock-duration', 1000), stalledMs: n(o.stalledInterval, '--stalled-interval', 500), maxStalled: n(o.maxStalled, '--max-stalled', 0), checkpointMs: n(o.checkpointInterval, '--checkpoint-interval', 100),
        judgeCache: o.judgeCache,
      };
      if (opts.name !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(opts.name)) throw new UsageError(`--name ${opts.name}: letters, digits, _ . - only`);
      await startBackend(o.backend);
      const w = await startWorker(opts);
      await new Promise<void>((done) => {
        const stop = (sig: string) => {
          log(`worker ${w.id}: ${sig}: finishing the running step, taking no new one (again to stop now)`);
          process.once(sig as NodeJS.Signals, () => process.exit(130));
          void w.close().then(done);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

export function registerQueue(program: Command): void {
  const cmd = program.command('queue').description("a queue's jobs for an operator: status, clean, retry")
    .argument('<action>', 'status | clean | retry')
    .option('--queue <redis-url>', 'redis://[:PASSWORD@]HOST[:PORT][/DB] (default: $EMLENS_QUEUE)')
    .option('--all', 'clean: also the results, checkpoints and artefacts in the store (every study computes anew)')
    .option('--json', 'print one JSON document');
  cmd.action(async (action: string, o: { queue?: string; all?: boolean; json?: boolean }) => {
    if (!['status', 'clean', 'retry'].includes(action)) throw new UsageError(`queue: unknown action "${action}" (status, clean or retry)`);
    const target = queueTarget({ queue: queueUrl(o) })!;
    const redis = await connect(target, { role: 'client' });
    const queue = new Queue(QUEUE_NAME, { connection: bullConnection(target, { role: 'client' }), prefix: KEY_PREFIX });
    queue.on('error', () => undefined);
    try {
      if (action === 'status') printResult(o.json, await status(queue, redis, target), () => statusText(target));
      else if (action === 'retry') {
        const failed = await queue.getFailed();
        for (const j of failed) await j.retry('failed');
        printResult(o.json, { retried: failed.length }, () => `${failed.length} failed job${failed.length === 1 ? '' : 's'} queued again`);
      } else {
        const done = await queue.clean(0, 100_000, 'completed');
        const failed = await queue.clean(0, 100_000, 'failed');
        let keys = 0;
        if (o.all) keys = await deleteStore(redis);
        printResult(o.json, { removed_completed: done.length, removed_failed: failed.length, store_keys_removed: keys }, () => `removed ${done.length} completed and ${failed.length} failed jobs${o.all ? `, and ${keys} results, checkpoints and artefacts` : ''}`);
      }
    } finally {
      await queue.close().catch(() => undefined);
      redis.disconnect();
    }
  });
  interface Row { id: string; kind: string; name: string; since: string | null; attempts: number; reason: string }
  interface Status { counts: Record<string, number>; active: Row[]; failed: Row[]; results: number }
  let last: Status | undefined;
  const statusText = (t: QueueTarget) => {
    const s = last!;
    const lines = [`${t.shown}: ${Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', ')}; ${s.results} results in the store`];
    for (const j of s.active) lines.push(`  running  ${j.kind} ${j.name} (${j.id}) since ${j.since}`);
    for (const j of s.failed) lines.push(`  failed   ${j.kind} ${j.name} (${j.id}) after ${j.attempts}: ${j.reason}`);
    return lines.join('\n');
  };
  async function status(queue: Queue, redis: Awaited<ReturnType<typeof connect>>, _t: QueueTarget): Promise<Status> {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    const row = (j: { id?: string; name: string; data: { name?: string }; processedOn?: number; attemptsMade: number; failedReason?: string }): Row => ({
      id: String(j.id).slice(0, 12), kind: j.name, name: String(j.data?.name ?? ''), since: j.processedOn ? new Date(j.processedOn).toISOString() : null, attempts: j.attemptsMade, reason: (j.failedReason ?? '').split('\n')[0],
    });
    const active = (await queue.getActive()).map(row);
    const failed = (await queue.getFailed(0, 20)).map(row);
    let results = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY_PREFIX}:result:*`, 'COUNT', 1000);
      results += keys.length;
      cursor = next;
    } while (cursor !== '0');
    last = { counts, active, failed, results };
    return last;
  }
}

/** Deletes every results, checkpoints and artefact key (not the jobs: clean removed the finished ones). */
async function deleteStore(redis: Awaited<ReturnType<typeof connect>>): Promise<number> {
  let n = 0;
  for (const kind of ['result', 'ckpt', 'blob']) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY_PREFIX}:${kind}:*`, 'COUNT', 1000);
      if (keys.length) n += await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  return n;
}

/** --queue, else $EMLENS_QUEUE (a password in the environment stays out of the process list); neither is a usage error. */
function queueUrl(o: { queue?: string }): string {
  const url = o.queue ?? process.env.EMLENS_QUEUE;
  if (!url) throw new UsageError('--queue redis://HOST[:PORT][/DB] (or EMLENS_QUEUE) is required');
  return url;
}
