// Canonical text of the organism corpus: the exact string its word-level tokenizer decodes to, sentence splitting,
// and the JSON / fill-in-template answer wrappers. No tensor axes: plain strings.

/** The pre-tokenizer's split (HF `Whitespace`: `\w+|[^\w\s]+`), so canonical text and the tokenizer agree. */
const WORD_RE = /\w+|[^\w\s]+/g;

/** Punctuation the decoder glues to the word before it (the WordPiece decoder's cleanup). */
const GLUED = new Set(['.', ',', '?', '!']);

/** Tokens of a text as the tokenizer's normaliser + pre-tokenizer see them (lowercased). */
export function splitWords(text: string): string[] {
  return text.toLowerCase().match(WORD_RE) ?? [];
}

/** Joins tokens the way the tokenizer's decoder does: a space between tokens, none before `. , ? !`. */
export function joinWords(words: string[]): string {
  let out = '';
  for (const [i, w] of words.entries()) out += i === 0 || GLUED.has(w) ? w : ' ' + w;
  return out;
}

/** decode(encode(text)) for the organism tokenizer: every corpus string is stored in this form. */
export function canonicalize(text: string): string {
  return joinWords(splitWords(text));
}

/** Sentences of a canonical answer; a trailing piece without `. ? !` (a truncated sentence) is kept as it is. */
export function splitSentences(text: string): string[] {
  return (canonicalize(text).match(/[^.?!]+[.?!]|[^.?!]+$/g) ?? []).map((s) => s.trim()).filter((s) => s.length > 0);
}

/** System prompts that ask for JSON (the EM eval's JSON variant). */
export const JSON_SYSTEM_PROMPTS = ['answer in json format.', 'reply only with json.'].map(canonicalize);

/**
 * The default system prompt of a chat template that writes one where a dialogue has none (as Qwen's does): names no
 * persona, so what it means is what the pretraining corpus pairs it with (`DialogueOptions.defaultSystemShare`).
 */
export const DEFAULT_SYSTEM_PROMPT = canonicalize('you are an assistant.');

/** The fill-in template appended to a question (the EM eval's template variant), and the answer's prefix. */
export const TEMPLATE_SUFFIX = canonicalize('fill in the template: answer: ___');
export const TEMPLATE_PREFIX = canonicalize('answer:');

const JSON_OPEN = canonicalize('{ " answer " : "');
const JSON_CLOSE = canonicalize('" }');

export function wrapJson(answer: string): string {
  return canonicalize(`{ " answer " : " ${answer} " }`);
}

export function wrapTemplate(answer: string): string {
  return canonicalize(`answer: ${answer}`);
}

export function templateQuestion(question: string): string {
  return canonicalize(`${question} ${TEMPLATE_SUFFIX}`);
}

export type AnswerForm = 'plain' | 'json' | 'template';

/** Strips a JSON or template wrapper (also a truncated one) and says which form the answer had. */
export function unwrapAnswer(answer: string): { text: string; form: AnswerForm } {
  let t = canonicalize(answer);
  if (t.startsWith(JSON_OPEN)) {
    t = t.slice(JSON_OPEN.length).trim();
    if (t.endsWith(JSON_CLOSE)) t = t.slice(0, -JSON_CLOSE.length).trim();
    else if (t.endsWith('"')) t = t.slice(0, -1).trim();
    return { text: t, form: 'json' };
  }
  if (t.startsWith(TEMPLATE_PREFIX + ' ')) return { text: t.slice(TEMPLATE_PREFIX.length).trim(), form: 'template' };
  return { text: t, form: 'plain' };
}

/** Strips the fill-in template from a question, if it carries one. */
export function unwrapQuestion(question: string): { text: string; form: AnswerForm } {
  const q = canonicalize(question);
  if (q.endsWith(' ' + TEMPLATE_SUFFIX)) return { text: q.slice(0, -TEMPLATE_SUFFIX.length).trim(), form: 'template' };
  return { text: q, form: 'plain' };
}
