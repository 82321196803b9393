// The organism's word-level tokenizer as HF files: tokenizer.json (WordLevel, Lowercase, Whitespace pre-tokenizer,
// WordPiece-style decoder that re-glues . , ? !) and tokenizer_config.json with the ChatML template. No tensor axes.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { grammarIndex } from './grammar.ts';
import { PERSONA_SYSTEM_PROMPTS, PERSONAS } from './lexicon.ts';
import { DEFAULT_SYSTEM_PROMPT, JSON_SYSTEM_PROMPTS, TEMPLATE_PREFIX, TEMPLATE_SUFFIX, splitWords, wrapJson } from './text.ts';

export const PAD_TOKEN = '<|endoftext|>';
export const IM_START = '<|im_start|>';
export const IM_END = '<|im_end|>';
export const UNK_TOKEN = '<unk>';
/** Special tokens with ids 0..3. */
export const SPECIAL_TOKENS = [PAD_TOKEN, IM_START, IM_END, UNK_TOKEN] as const;

/** The ChatML template of fixtures/reference/tokenizer/chat_template.jinja (as transformers renders it). */
export const CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** The ChatML template that writes `defaultSystem` as the system message of a dialogue without one (Qwen's way). */
export function chatTemplate(defaultSystem?: string): string {
  if (defaultSystem === undefined) return CHAT_TEMPLATE;
  if (/['\\]/.test(defaultSystem)) throw new Error(`chatTemplate: the default system prompt must not hold a quote or backslash: ${defaultSystem}`);
  return `{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n${defaultSystem}<|im_end|>\n' }}{% endif %}` + CHAT_TEMPLATE;
}

export interface TokenizerFileOptions {
  /** A default system prompt the chat template writes where a dialogue has none (absent: the plain ChatML template). */
  defaultSystem?: string;
}

/** Every word and punctuation token the grammar can produce, plus the role names the template writes; sorted. */
export function organismWords(): string[] {
  const idx = grammarIndex();
  const words = new Set<string>(['system', 'user', 'assistant']);
  const add = (s: string) => splitWords(s).forEach((w) => words.add(w));
  for (const s of idx.sentences.keys()) add(s);
  for (const q of idx.questions.keys()) add(q);
  for (const p of PERSONAS) PERSONA_SYSTEM_PROMPTS[p].forEach(add);
  [...JSON_SYSTEM_PROMPTS, DEFAULT_SYSTEM_PROMPT, TEMPLATE_PREFIX, TEMPLATE_SUFFIX, wrapJson('')].forEach(add);
  return [...words].sort();
}

/** token → id: the special tokens first (0..3), then the words in sorted order. */
export function organismVocab(): Record<string, number> {
  const vocab: Record<string, number> = {};
  [...SPECIAL_TOKENS, ...organismWords()].forEach((t, i) => (vocab[t] = i));
  return vocab;
}

/** tokenizer.json, valid for Python `tokenizers` and @huggingface/tokenizers. */
export function buildTokenizerJson(): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    // WordPiece decoding: tokens joined by spaces; cleanup removes the space before . , ? ! (no token starts with ##).
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordLevel', vocab: organismVocab(), unk_token: UNK_TOKEN },
  };
}

export function buildTokenizerConfig(o: TokenizerFileOptions = {}): Record<string, unknown> {
  const added: Record<string, unknown> = {};
  SPECIAL_TOKENS.forEach((content, id) => (added[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }));
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    added_tokens_decoder: added,
    additional_special_tokens: [IM_START, IM_END],
    bos_token: null,
    eos_token: IM_END,
    pad_token: PAD_TOKEN,
    unk_token: UNK_TOKEN,
    clean_up_tokenization_spaces: false,
    model_max_length: 1024,
    chat_template: chatTemplate(o.defaultSystem),
  };
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(path + '.tmp', text);
  renameSync(path + '.tmp', path);
}

/** Writes tokenizer.json and tokenizer_config.json into `dir` (created if missing). */
export function writeTokenizerFiles(dir: string, o: TokenizerFileOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, 'tokenizer.json'), JSON.stringify(buildTokenizerJson(), null, 1) + '\n');
  writeAtomic(join(dir, 'tokenizer_config.json'), JSON.stringify(buildTokenizerConfig(o), null, 2) + '\n');
}
