// A fine-tune to continue from: the study's base with a LoRA run merged into its weights, saved once as an HF folder
// under RUN/models/NAME, and a workspace on that folder whose fine-tunes start there. Axes: LoRA A [in, r], B [r, out].
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { disposeLora, loadLora, mergeLora } from '../adapters/lora.ts';
import { saveModel } from '../model/save.ts';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.ts';
import { Workspace, contentDigest } from './workspace.ts';

/** What a merged folder was made from (the adapter's digest), beside its weights. */
const SOURCE_FILE = 'merged-from.key';

/**
 * RUN/models/NAME: the workspace's model with the LoRA of run folder `run` merged in (W + scale·A·B), written once
 * per adapter content; `remade` says whether it was (re)written now, so that caches built on an older one are dropped.
 */
export function mergedModel(ws: Workspace, name: string, run: string): { dir: string; remade: boolean } {
  const dir = ws.path('models', name);
  const key = contentDigest(run) ?? run;
  const keyFile = join(dir, SOURCE_FILE);
  if (existsSync(join(dir, 'model.safetensors')) && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === key) return { dir, remade: false };
  const lora = loadLora(join(run, 'adapter'), ws.model);
  const merged = mergeLora(ws.model, lora);
  try {
    writeDirAtomic(dir, (tmp) => {
      saveModel(merged, tmp, { tokenizerFrom: ws.modelDir });
      writeFileAtomic(join(tmp, SOURCE_FILE), key);
    });
  } finally {
    // the merged kernels are new tensors; every other weight is the base's own
    for (const m of lora.modules.values()) for (const t of merged.weights.blocks[m.layer].linears[m.module].ownTensors()) t.dispose();
    disposeLora(lora);
  }
  return { dir, remade: true };
}

/**
 * A workspace at RUN/STUDY on the merged model of `run` (mergedModel(ws, name, run)), with the study's judge and second core: its
 * fine-tunes continue from that model. When the merged model was made anew, what STUDY held of the old one goes.
 */
export function workspaceOnMerged(ws: Workspace, name: string, run: string, study: string): Workspace {
  const { dir, remade } = mergedModel(ws, name, run);
  if (remade) rmSync(ws.path(study), { recursive: true, force: true });
  return new Workspace(ws.path(study), dir, ws.quiet).inheritFrom(ws);
}
