// The process a worker computes steps in (its own event loop stays free to renew job locks while a long eval or
// fine-tune holds this one): runs one fine-tune or eval at a time through a Workspace of the step's model, with every
// input already a local path, and reports the end. Exits when the worker goes (even killed). No tensor axes.
import { initBackend, type BackendChoice } from '../backend/select.ts';
import { Workspace, type InterventionSpec } from '../study/workspace.ts';
import type { TrainSpec } from '../train/defaults.ts';

export type ToStepChild =
  | { id: number; kind: 'finetune'; runDir: string; modelDir: string; backend: string; quiet: boolean; name: string; spec: TrainSpec }
  | { id: number; kind: 'eval'; runDir: string; modelDir: string; backend: string; quiet: boolean; name: string; iv: InterventionSpec; settings: { samples: number; seed: number; questions: string; maxNewTokens: number } };
export type FromStepChild = { id: number; ok: true; report?: unknown } | { id: number; ok: false; message: string };

let ws: Workspace | undefined;

// the worker gone (exited, killed, closed us): stop; a fine-tune's last checkpoint is in the store already
process.on('disconnect', () => process.exit(0));
process.on('message', async (m: ToStepChild) => {
  let reply: FromStepChild;
  try {
    await initBackend(m.backend as BackendChoice, { quiet: true });
    if (ws?.runDir !== m.runDir) ws = new Workspace(m.runDir, m.modelDir, m.quiet);
    if (m.kind === 'finetune') {
      await ws.finetune(m.name, m.spec);
      reply = { id: m.id, ok: true };
    } else {
      const full = (await ws.evaluate(m.name, m.iv, m.settings)) as unknown as Record<string, unknown>;
      // the workspace's own cache fields describe this machine's files: not part of the report
      const { key: _k, intervention: _i, ...report } = full;
      reply = { id: m.id, ok: true, report };
    }
  } catch (e) {
    reply = { id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  if (process.connected) process.send?.(reply, (e: Error | null) => e && process.exit(0));
});
