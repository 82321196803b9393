// A study's direction extractions as data — the kind and its inputs by path — so that the workspace computes one here,
// or a queue's worker computes it from the same description: EM, refusal, persona, LoRA-B. Axes: [nLayers][dModel].
import { join } from 'node:path';
import { readChatJsonl } from '../train/data.ts';
import { readJudgedAnswers } from '../eval/judged-answers.ts';
import { disposeLora, loadLora } from '../adapters/lora.ts';
import { loraWriteDirection } from '../directions/adapter-directions.ts';
import { extractEmDirection, extractPersonaDirection, extractRefusalDirection } from '../recipes/directions.ts';
import type { Direction } from '../directions/direction.ts';
import type { Workspace } from './workspace.ts';

/**
 * One extraction. `adapter` is a fine-tune's run folder (or an adapter folder); `answers` an eval report
 * (RUN/evals/NAME.json, or `emlens eval --out`); prompt sets are chat JSONL. `label` names the answers in the
 * direction's provenance and in errors ("medical eval").
 */
export type ExtractSpec =
  | { kind: 'em'; adapter?: string; answers: string; label: string; seed: number }
  | { kind: 'refusal'; harmful: string; harmless: string }
  | { kind: 'persona'; pos: string; neg: string; seed: number; samples: number }
  | { kind: 'lora-b'; adapter: string };

/** The fields of a spec that are paths (a queue sends their files to its workers). */
export const EXTRACT_PATH_FIELDS = ['adapter', 'answers', 'harmful', 'harmless', 'pos', 'neg'] as const;

/** A prompt set's chats without their answers (the model answers, or is read at the prompt). */
const prompts = (path: string) => readChatJsonl(path, { requireAssistant: false }).map((e) => e.messages.filter((m) => m.role !== 'assistant'));

/**
 * The direction `spec` describes, computed with the workspace's model, tokenizer and judge (persona) — the library
 * calls `emlens extract` makes. An input too weak for the kind (too few misaligned answers) is a UserError.
 */
export async function extractDirection(ws: Workspace, spec: ExtractSpec): Promise<Direction> {
  switch (spec.kind) {
    case 'em': {
      const answers = readJudgedAnswers(spec.answers, 'spec.answers');
      // the answers' model: the workspace's own with the fine-tune's adapter, or as it is (a full fine-tune's folder)
      const { model, hooks, release } = ws.apply(spec.adapter ? { adapter: spec.adapter } : {});
      try {
        return extractEmDirection({ model, tok: ws.tok, hooks, seed: spec.seed, modelName: ws.modelDir, adapterName: spec.adapter }, answers, spec.label);
      } finally {
        release();
      }
    }
    case 'refusal':
      return extractRefusalDirection({ model: ws.model, tok: ws.tok, modelName: ws.modelDir }, prompts(spec.harmful), prompts(spec.harmless), [spec.harmful, spec.harmless]);
    case 'persona':
      return extractPersonaDirection({ model: ws.model, tok: ws.tok, seed: spec.seed, modelName: ws.modelDir }, prompts(spec.pos), prompts(spec.neg), ws.judge, [spec.pos, spec.neg], { samples: spec.samples });
    case 'lora-b': {
      const lora = loadLora(join(spec.adapter, 'adapter'), ws.model);
      try {
        return loraWriteDirection(lora, ws.model.config.nLayers, spec.adapter);
      } finally {
        disposeLora(lora);
      }
    }
  }
}
