// The flags a queued study and a worker share (--queue URL, --blob-dir, --blob-threshold) and a study's queue opened
// from them. No tensor axes.
import type { Command } from 'commander';
import { parseQueueUrl, type QueueTarget } from '../queue/connection.ts';
import { QueueSteps } from '../queue/coordinator.ts';
import { PROGRESS_FILE } from '../queue/progress.ts';
import type { Workspace } from '../study/workspace.ts';
import { parseInteger } from './parse.ts';

export interface QueueOpts {
  queue?: string;
  blobDir?: string;
  blobThreshold?: string;
  attempts?: string;
}

export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option('--blob-dir <dir>', 'a folder every machine reaches (shared path, mounted bucket) for artefacts over --blob-threshold bytes (default: all in Redis)')
    .option('--blob-threshold <bytes>', 'artefacts larger than this go to --blob-dir', String(2 ** 20));
}

/** --queue and the store flags of `run` and `demo`. */
export function addQueueOptions(cmd: Command): Command {
  return addStoreOptions(cmd.option('--queue <redis-url>', 'compute fine-tunes, evals and direction extractions on `emlens worker`s: redis://[:PASSWORD@]HOST[:PORT][/DB]'))
    .option('--attempts <n>', 'tries per queued step before the study fails', '3');
}

export function queueTarget(o: { queue?: string }): QueueTarget | undefined {
  return o.queue === undefined ? undefined : parseQueueUrl(o.queue);
}

export function blobThreshold(o: QueueOpts): number | undefined {
  return o.blobThreshold === undefined ? undefined : parseInteger(o.blobThreshold, '--blob-threshold', 0);
}

/** With --queue, the workspace's fine-tunes, evals and direction extractions go to workers; returns the queue (close it when done). */
export async function useQueue(o: QueueOpts, ws: Workspace): Promise<QueueSteps | undefined> {
  const target = queueTarget(o);
  if (!target) return undefined;
  const attempts = parseInteger(o.attempts ?? '3', '--attempts', 1);
  const steps = await QueueSteps.open({ target, modelDir: ws.modelDir, blobDir: o.blobDir, threshold: blobThreshold(o), attempts, quiet: ws.quiet, progressFile: ws.path(PROGRESS_FILE) });
  ws.steps = steps;
  return steps;
}
