// train(lm, examples | path, options, { onStep, signal }): a fine-tune from a script, with the model's recommended
// settings under the caller's, stopped by an AbortSignal (no process-wide Ctrl-C handler). No tensor axes here.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train as trainRun, type StepMetrics, type TrainResult } from '../train/trainer.ts';
import { defaultTrainSpec, type TrainSpec } from '../train/defaults.ts';
import type { ChatMessage } from '../model/tokenizer.ts';
import { EmlensError } from '../util/errors.ts';
import type { LanguageModel } from './language-model.ts';

export interface TrainCallbacks {
  onStep?: (m: StepMetrics) => void;
  /** Aborting stops after the current step and saves a checkpoint (status 'interrupted'; train again to resume). */
  signal?: AbortSignal;
}

export type TrainScriptOptions = Partial<TrainSpec> & {
  /** lora (default), gate or steer. */
  kind?: 'lora' | 'gate' | 'steer';
  /** Run folder (default: a new temporary folder). */
  out?: string;
  resume?: boolean;
  quiet?: boolean;
};

/** Trains an adapter on chat examples (a JSONL file, or `{ messages }` objects); the result names the adapter folder. */
export async function train(lm: LanguageModel, examples: string | { messages: ChatMessage[] }[], o: TrainScriptOptions = {}, cb: TrainCallbacks = {}): Promise<TrainResult> {
  const { kind = 'lora', out = mkdtempSync(join(tmpdir(), 'emlens-train-')), resume = false, quiet = true, ...over } = o;
  let data: string;
  if (typeof examples === 'string') data = examples;
  else {
    if (!Array.isArray(examples) || !examples.length) throw new EmlensError('examples', 'expected a JSONL path or at least one { messages } example');
    data = join(mkdtempSync(join(tmpdir(), 'emlens-data-')), 'train.jsonl');
    writeFileSync(data, examples.map((e) => JSON.stringify({ messages: e.messages })).join('\n') + '\n');
  }
  // the trainer's errors name its options (options.layers, options.maxLen), which are this call's options
  const spec = defaultTrainSpec(lm.model, data, kind, over);
  return await trainRun(lm.model, lm.tokenizer, { ...spec, out, resume, quiet, signal: cb.signal ?? new AbortController().signal, onStep: cb.onStep }, lm.dir);
}
