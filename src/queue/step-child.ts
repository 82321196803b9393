// The process a worker computes steps in (its own event loop stays free to renew job locks while a long eval or
// fine-tune holds this one): runs one fine-tune, eval or direction extraction at a time through a Workspace of the
// step's model, with every input already a local path, and reports the end. Exits when the worker goes (even killed).
// No tensor axes.
import { join } from 'node:path';
import { initBackend, type BackendChoice } from '../backend/select.ts';
import { Workspace, type InterventionSpec } from '../study/workspace.ts';
import { extractDirection, type ExtractSpec } from '../study/extractions.ts';
import { Direction } from '../directions/direction.ts';
import type { TrainSpec } from '../train/defaults.ts';
import type { Judge } from '../eval/judge.ts';
import { OrganismJudge } from '../eval/organism-judge.ts';
import { HttpJudge, JUDGE_API_KEY_ENV } from '../eval/http-judge.ts';
import { UserError } from '../util/log.ts';
import { mapStrings, type JudgeSettings } from './jobs.ts';

interface Common { id: number; runDir: string; modelDir: string; backend: string; quiet: boolean; name: string; judge: JudgeSettings; judgeCache?: string }
export type ToStepChild =
  | (Common & { kind: 'finetune'; spec: TrainSpec })
  | (Common & { kind: 'eval'; iv: InterventionSpec; settings: { samples: number; seed: number; questions: string; maxNewTokens: number } })
  /** `labels`: this machine's input paths → their references, as the direction's provenance names them; saved in `out`. */
  | (Common & { kind: 'extract'; spec: ExtractSpec; labels: Record<string, string>; out: string });
/** `final`: an extraction's inputs cannot give its direction (too few misaligned answers …): no other try would. */
export type FromStepChild = { id: number; ok: true; report?: unknown } | { id: number; ok: false; message: string; final?: boolean };

let ws: Workspace | undefined;
const judges = new Map<string, Judge>();

/** The judge a payload names: an HTTP one with the key of this worker's environment (one per endpoint, its cache reused). */
function judgeOf(s: JudgeSettings, cacheDir: string | undefined): Judge {
  const id = s === 'organism' ? s : `${s.model}@${s.url}`;
  let j = judges.get(id);
  if (!j) {
    j = s === 'organism' ? new OrganismJudge() : new HttpJudge({ url: s.url, model: s.model, apiKey: process.env[JUDGE_API_KEY_ENV], cacheDir });
    judges.set(id, j);
  }
  return j;
}

// the worker gone (exited, killed, closed us): stop; a fine-tune's last checkpoint is in the store already
process.on('disconnect', () => process.exit(0));
process.on('message', async (m: ToStepChild) => {
  let reply: FromStepChild;
  try {
    await initBackend(m.backend as BackendChoice, { quiet: true });
    if (ws?.runDir !== m.runDir) ws = new Workspace(m.runDir, m.modelDir, m.quiet);
    ws.judge = judgeOf(m.judge, m.judgeCache);
    if (m.kind === 'finetune') {
      await ws.finetune(m.name, m.spec);
      reply = { id: m.id, ok: true };
    } else if (m.kind === 'eval') {
      const full = (await ws.evaluate(m.name, m.iv, m.settings)) as unknown as Record<string, unknown>;
      // the workspace's own cache fields describe this machine's files: not part of the report
      const { key: _k, intervention: _i, ...report } = full;
      reply = { id: m.id, ok: true, report };
    } else {
      const d = await extractDirection(ws, m.spec);
      new Direction(d.vectors, mapStrings(d.provenance, (s) => m.labels[s] ?? s)).save(join(m.out, 'direction.safetensors'));
      reply = { id: m.id, ok: true };
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    reply = { id: m.id, ok: false, message, ...(m.kind === 'extract' && e instanceof UserError ? { final: true } : {}) };
  }
  if (process.connected) process.send?.(reply, (e: Error | null) => e && process.exit(0));
});
