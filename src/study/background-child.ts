// The forked process of BackgroundTrainer: keeps the queue of fine-tunes its parent sends and trains them one after
// another through the same train() call as the study itself, answering claims between steps. No tensor axes.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend, type BackendChoice } from '../backend/select.ts';
import { loadModel } from '../model/load.ts';
import { ChatTokenizer } from '../model/tokenizer.ts';
import { disposeModel, type Model } from '../model/modules.ts';
import { train } from '../train/trainer.ts';
import type { ChildJob, FromChild, ToChild } from './background.ts';

const queue: ChildJob[] = [];
let backend: string | undefined;
let busy = false;
let loaded: { dir: string; model: Model; tok: ChatTokenizer } | undefined;

// the parent gone (exited, killed, or closed us): stop at the next step; the run keeps its last checkpoint and its
// run.json says "running", so the next study resumes it
process.on('disconnect', () => process.exit(0));
process.on('message', (m: ToChild) => {
  if (m.type === 'jobs') {
    backend = m.backend;
    if (m.first) queue.unshift(...m.jobs);
    else queue.push(...m.jobs);
    void work();
  } else {
    // the trainer yields between steps, so a claim is answered within one step of the job in flight
    const i = queue.findIndex((j) => resolve(j.out) === resolve(m.out));
    if (i >= 0) queue.splice(i, 1);
    send({ type: 'claim', out: m.out, granted: i >= 0 });
  }
});

function send(m: FromChild): void {
  // the parent may be gone by now (its channel closed while a fine-tune finished): nothing to report to
  if (process.connected) process.send?.(m, (e: Error | null) => e && process.exit(0));
}

async function work(): Promise<void> {
  if (busy) return;
  busy = true;
  try {
    for (let job = queue.shift(); job; job = queue.shift()) {
      // a start made by an earlier job the parent took over (and has not finished yet): the parent trains this one
      if (!existsSync(join(job.modelDir, 'config.json'))) {
        send({ type: 'ended', out: job.out, ok: false, message: `no model at ${job.modelDir} yet`, dropped: true });
        continue;
      }
      send({ type: 'started', out: job.out });
      try {
        await initBackend(backend as BackendChoice, { quiet: true });
        if (loaded?.dir !== job.modelDir) {
          if (loaded) disposeModel(loaded.model);
          loaded = { dir: job.modelDir, model: loadModel(job.modelDir), tok: ChatTokenizer.load(job.modelDir) };
        }
        await train(loaded.model, loaded.tok, { ...job.spec, out: job.out, resume: existsSync(join(job.out, 'run.json')), quiet: true }, job.modelDir);
        send({ type: 'ended', out: job.out, ok: true });
      } catch (e) {
        send({ type: 'ended', out: job.out, ok: false, message: e instanceof Error ? e.message : String(e) });
      }
    }
  } finally {
    busy = false;
  }
}
