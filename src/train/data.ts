// Chat JSONL datasets for training (also .jsonl.gz; OpenAI's "weight": 0 on an assistant turn = no loss on it):
// validated line by line (ajv; errors name file and line), tokenized with the chat template with a mask on assistant
// tokens, batched by length; prompt sets for refusal and contrast (chat JSONL or refusal_direction's JSON splits).
// Axes: batch ids/masks [batch, seq].
import { existsSync } from 'node:fs';
import { readTextFile } from '../util/fs.ts';
import { Ajv } from 'ajv';
import { UserError } from '../util/log.ts';
import { Rng } from '../util/rng.ts';
import type { ChatMessage } from '../model/tokenizer.ts';
import type { TokenizedExample, TrainMessage } from '../model/chat-tokens.ts';
import { innerExtension, readUserText } from '../formats/text.ts';
import { readPromptSplit } from '../formats/prompt-sets.ts';

// the chat → ids + assistant mask step lives with the tokenizer (directions read answer tokens with it too)
export { tokenizeChat, type TokenizedExample, type TrainMessage } from '../model/chat-tokens.ts';

export interface ChatExample {
  messages: TrainMessage[];
  /** 1-based line in the source file. */
  line: number;
}

const schema = {
  type: 'object',
  required: ['messages'],
  properties: {
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role', 'content'],
        properties: { role: { enum: ['system', 'user', 'assistant'] }, content: { type: 'string' }, weight: { enum: [0, 1] } },
      },
    },
  },
};

const validate = new Ajv({ allErrors: false }).compile(schema);

/** Reads and validates every line before returning anything, so no run trains on a half-read file. */
export function readChatJsonl(path: string, { requireAssistant = true } = {}): ChatExample[] {
  if (!existsSync(path)) throw new UserError(`${path}: file not found`);
  const lines = (/\.gz$/i.test(path) ? readUserText(path) : readTextFile(path)).split('\n'); // a UTF-8 BOM dropped, a folder named; .gz inflated
  const out: ChatExample[] = [];
  lines.forEach((text, i) => {
    if (!text.trim()) return;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (!validate(obj)) {
      const err = validate.errors![0];
      throw new UserError(`${path}:${i + 1}: ${err.instancePath || 'line'} ${err.message}${err.params && 'allowedValues' in err.params ? ` (${(err.params.allowedValues as string[]).join(', ')})` : ''}`);
    }
    const messages: TrainMessage[] = (obj as { messages: TrainMessage[] }).messages.map((m, j) => {
      if (m.weight !== undefined && m.role !== 'assistant') throw new UserError(`${path}:${i + 1}: /messages/${j} "weight" applies to assistant messages only`);
      return { role: m.role, content: m.content, ...(m.weight === 0 ? { weight: 0 as const } : {}) };
    });
    if (requireAssistant && !messages.some((m) => m.role === 'assistant')) throw new UserError(`${path}:${i + 1}: no assistant message to train on`);
    if (requireAssistant && messages.every((m) => m.role !== 'assistant' || m.weight === 0)) throw new UserError(`${path}:${i + 1}: every assistant message has "weight": 0; nothing to train on`);
    out.push({ messages, line: i + 1 });
  });
  if (!out.length) throw new UserError(`${path}: no examples`);
  return out;
}

/** Prompts for refusal and contrast (`--pos`, `--neg`, `--prompts`): a chat JSONL (.jsonl / .jsonl.gz), or a JSON
 * array of {"instruction"} objects or strings (refusal_direction's splits, AdvBench), each one user prompt. */
export function readPromptSet(path: string, flag: string, { requireAssistant = false } = {}): ChatMessage[][] {
  if (innerExtension(path) === '.json') return readPromptSplit(path, `${flag} ${path}`);
  return readChatJsonl(path, { requireAssistant }).map((e) => e.messages.map((m) => ({ role: m.role, content: m.content })));
}

export interface Batch {
  ids: number[][]; // [batch, seq], right-padded with padId
  mask: Int32Array; // [batch, seq] 1 = real token
  /** Positions p whose next token (p+1) is trained on, flattened as b·seq + p. */
  lossRows: number[];
  /** The token at p+1 for each loss row. */
  lossTargets: number[];
  tokens: number; // real tokens
}

export function collate(examples: TokenizedExample[], padId: number, maxLen?: number): Batch {
  const clipped = examples.map((e) => (maxLen && e.ids.length > maxLen ? { ids: e.ids.slice(0, maxLen), target: e.target.slice(0, maxLen) } : e));
  const seq = Math.max(...clipped.map((e) => e.ids.length));
  const ids: number[][] = [], lossRows: number[] = [], lossTargets: number[] = [];
  const mask = new Int32Array(clipped.length * seq);
  let tokens = 0;
  clipped.forEach((e, b) => {
    ids.push([...e.ids, ...Array(seq - e.ids.length).fill(padId)]);
    for (let p = 0; p < e.ids.length; p++) mask[b * seq + p] = 1;
    tokens += e.ids.length;
    for (let p = 0; p + 1 < e.ids.length; p++) {
      if (e.target[p + 1]) {
        lossRows.push(b * seq + p);
        lossTargets.push(e.ids[p + 1]);
      }
    }
  });
  return { ids, mask, lossRows, lossTargets, tokens };
}

/**
 * One epoch's batches of example indices: shuffled with (seed, epoch), then grouped by length inside mega-batches
 * of 50 batches (as HF's group_by_length) so padding stays small; batch order shuffled again.
 */
export function epochBatches(lengths: number[], batchSize: number, seed: number, epoch: number): number[][] {
  const rng = new Rng(seed * 1000003 + epoch);
  const order = rng.shuffle(lengths.map((_, i) => i));
  const mega = batchSize * 50;
  const batches: number[][] = [];
  for (let s = 0; s < order.length; s += mega) {
    const chunk = order.slice(s, s + mega).sort((a, b) => lengths[b] - lengths[a] || a - b);
    for (let j = 0; j < chunk.length; j += batchSize) batches.push(chunk.slice(j, j + batchSize));
  }
  return rng.shuffle(batches);
}
