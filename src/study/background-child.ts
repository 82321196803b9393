// The forked process of BackgroundTrainer: keeps the queue of jobs its parent sends and does them one after another —
// fine-tunes through the same train() call as the study, evals through the study's Workspace. No tensor axes.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, type BackendChoice } from '../backend/select.ts';
import { loadModel } from '../model/load.ts';
import { ChatTokenizer } from '../model/tokenizer.ts';
import { disposeModel, type Model } from '../model/modules.ts';
import { train } from '../train/trainer.ts';
import { takeJob, type ChildJob, type FromChild, type ToChild } from './background.ts';
import { log, logTimes } from '../util/log.ts';
import { Workspace, type EvalSettings } from './workspace.ts';

const queue: ChildJob[] = [];
let backend: string | undefined;
let busy = false;
let loaded: { dir: string; model: Model; tok: ChatTokenizer } | undefined;
let study: Workspace | undefined;

// the parent gone (exited, killed, or closed us): stop at the next step; the run keeps its last checkpoint and its
// run.json says "running", so the next study resumes it
process.on('disconnect', () => process.exit(0));
process.on('message', (m: ToChild) => {
  backend = m.backend;
  if (m.first) queue.unshift(...m.jobs);
  else queue.push(...m.jobs);
  void work();
});

function send(m: FromChild): void {
  // the parent may be gone by now (its channel closed while a job finished): nothing to report to
  if (process.connected) process.send?.(m, (e: Error | null) => e && process.exit(0));
}

async function work(): Promise<void> {
  if (busy) return;
  busy = true;
  try {
    for (let job = queue.shift(); job; job = queue.shift()) {
      // a start made by an earlier job the parent took over (and has not finished yet): the parent does this one
      if (!existsSync(join(job.modelDir, 'config.json'))) {
        send({ type: 'ended', out: job.out, ok: false, message: `no model at ${job.modelDir} yet`, dropped: true });
        continue;
      }
      try {
        if (!takeJob(job.out)) continue; // the study took it
        send({ type: 'started', out: job.out });
        await initBackend(backend as BackendChoice, { quiet: true });
        await (job.kind === 'train' ? trainJob(job) : evalJob(job));
        send({ type: 'ended', out: job.out, ok: true });
        if (logTimes) log(`study: second core: ${job.kind === 'train' ? 'fine-tune' : 'eval'} ${job.name} done`); // when it ends, with EMLENS_LOG_TIME
      } catch (e) {
        send({ type: 'ended', out: job.out, ok: false, message: e instanceof Error ? e.message : String(e) });
      }
      // a turn of the event loop between jobs: the parent's newer jobs (first in line) arrive
      await new Promise((ok) => setImmediate(ok));
    }
  } finally {
    busy = false;
  }
}

async function trainJob(job: Extract<ChildJob, { kind: 'train' }>): Promise<void> {
  if (loaded?.dir !== job.modelDir) {
    if (loaded) disposeModel(loaded.model);
    loaded = { dir: job.modelDir, model: loadModel(job.modelDir), tok: ChatTokenizer.load(job.modelDir) };
  }
  await train(loaded.model, loaded.tok, { ...job.spec, out: job.out, resume: existsSync(join(job.out, 'run.json')), quiet: true }, job.modelDir);
}

/** The study's own evaluate (cached at the same file, keyed the same way), on a workspace of this process. */
async function evalJob(job: Extract<ChildJob, { kind: 'eval' }>): Promise<void> {
  if (study?.runDir !== job.runDir || study.modelDir !== job.modelDir) {
    if (study) disposeModel(study.model);
    study = new Workspace(job.runDir, job.modelDir, true);
  }
  await study.evaluate(job.name, job.iv, job.settings as unknown as EvalSettings);
}
