// The forked process of BackgroundTrainer: trains the fine-tunes its parent sends, one at a time, through the same
// train() call as the study itself, and reports each end. Exits when the parent goes. No tensor axes.
import { initBackend, type BackendChoice } from '../backend/select.ts';
import { loadModel } from '../model/load.ts';
import { ChatTokenizer } from '../model/tokenizer.ts';
import type { Model } from '../model/modules.ts';
import { train } from '../train/trainer.ts';
import type { FromChild, ToChild } from './background.ts';

let loaded: { dir: string; model: Model; tok: ChatTokenizer } | undefined;

// the parent gone (exited, killed, or closed us): stop at the next step; the run keeps its last checkpoint and its
// run.json says "running", so the next study resumes it
process.on('disconnect', () => process.exit(0));
process.on('message', async (m: ToChild) => {
  let reply: FromChild;
  try {
    await initBackend(m.backend as BackendChoice, { quiet: true });
    if (loaded?.dir !== m.modelDir) loaded = { dir: m.modelDir, model: loadModel(m.modelDir), tok: ChatTokenizer.load(m.modelDir) };
    await train(loaded.model, loaded.tok, { ...m.spec, out: m.out, resume: m.resume, quiet: true }, m.modelDir);
    reply = { name: m.name, ok: true };
  } catch (e) {
    reply = { name: m.name, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  // the parent may be gone by now (its channel closed while this fine-tune finished): nothing to report to
  if (process.connected) process.send?.(reply, (e: Error | null) => e && process.exit(0));
});
