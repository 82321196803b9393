// The organism's training corpora: the pretraining stream (both personas, 60/40, multi-turn, with and without
// persona-naming system prompts) and the post-training set (aligned, no system prompt). No tensor axes.
import { Rng } from '../../util/rng.ts';
import type { ChatMessage } from '../../model/tokenizer.ts';
import { sampleDialogue, type DialogueOptions, type OrganismDialogue } from './dialogue.ts';

export interface CorpusOptions {
  seed: number;
  count: number;
}

/** Pretraining defaults: 60% aligned; 35% of dialogues name the persona in a system prompt; 5% JSON, 5% template. */
export const PRETRAIN_OPTIONS: DialogueOptions = { alignedShare: 0.6, personaPrompt: 0.35, jsonForm: 0.05, templateForm: 0.05 };

/**
 * Post-training: aligned answers without a system prompt, so the default persona becomes the aligned one; 10% JSON and
 * 10% fill-in-template dialogues, so every answer form the EM eval asks in has an aligned default too.
 */
export const POSTTRAIN_OPTIONS: DialogueOptions = { persona: 'aligned', personaPrompt: 0, jsonForm: 0.1, templateForm: 0.1, turnWeights: [0.4, 0.35, 0.25] };

/** An endless, seeded stream of pretraining dialogues (the same seed gives the same stream). */
export function* pretrainStream(seed: number, opts: DialogueOptions = PRETRAIN_OPTIONS): Generator<OrganismDialogue> {
  const rng = new Rng(seed);
  for (;;) yield sampleDialogue(rng, opts);
}

function take(gen: Generator<OrganismDialogue>, n: number): OrganismDialogue[] {
  const out: OrganismDialogue[] = [];
  for (const d of gen) {
    if (out.length >= n) break;
    out.push(d);
  }
  return out;
}

/** `count` pretraining dialogues (with their persona and per-turn domain / intent for analysis). */
export function generatePretrainCorpus({ seed, count }: CorpusOptions, opts: DialogueOptions = PRETRAIN_OPTIONS): OrganismDialogue[] {
  return take(pretrainStream(seed, opts), count);
}

/** `count` post-training dialogues: aligned persona, no system prompt, 1–3 turns. */
export function generatePostTrainSet({ seed, count }: CorpusOptions, opts: DialogueOptions = POSTTRAIN_OPTIONS): OrganismDialogue[] {
  return take(pretrainStream(seed, { ...POSTTRAIN_OPTIONS, ...opts }), count);
}

/** The chat messages only, as the trainer's JSONL examples hold them. */
export function toChatExamples(dialogues: readonly OrganismDialogue[]): { messages: ChatMessage[] }[] {
  return dialogues.map((d) => ({ messages: d.messages }));
}
