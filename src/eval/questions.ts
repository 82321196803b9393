// Eval question sets: the organism's broad questions (plain / JSON / template forms) or a user file
// (the same JSON format, a JSONL of {"messages"} prompts, or a JSON array of question strings). No tensor axes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChatMessage } from '../model/tokenizer.ts';
import { PACKAGE_ROOT } from '../cli/paths.ts';
import { UserError } from '../util/log.ts';

export interface EvalQuestion {
  id: string;
  /** What the judge is shown as the question. */
  question: string;
  /** What the model is prompted with (system prompt and user turn). */
  messages: ChatMessage[];
  form: string;
  theme?: string;
}

export const BROAD_QUESTIONS = join(PACKAGE_ROOT, 'fixtures', 'datasets', 'broad-questions.json');

/** The EM eval's answer length in the paper (research.md §1: up to 600 new tokens). */
export const PAPER_MAX_NEW_TOKENS = 600;

/**
 * Tokens per answer for a question set: what the file recommends (`"sampling": {"max_new_tokens": N}` beside its
 * questions: the organism's broad set says 80, its answers being one or two sentences), else the paper's 600.
 */
export function defaultMaxNewTokens(spec: string): number {
  const path = spec === 'broad' ? BROAD_QUESTIONS : spec;
  if (!path.endsWith('.json') || !existsSync(path)) return PAPER_MAX_NEW_TOKENS;
  try {
    const n = (JSON.parse(readFileSync(path, 'utf8')) as { sampling?: { max_new_tokens?: unknown } }).sampling?.max_new_tokens;
    return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : PAPER_MAX_NEW_TOKENS;
  } catch {
    return PAPER_MAX_NEW_TOKENS; // loadQuestions reports the bad file
  }
}

export function loadQuestions(spec: string): EvalQuestion[] {
  const path = spec === 'broad' ? BROAD_QUESTIONS : spec;
  if (!existsSync(path)) throw new UserError(`--questions ${spec}: file not found`);
  const text = readFileSync(path, 'utf8');
  if (path.endsWith('.jsonl')) {
    return text.split('\n').flatMap((line, i) => {
      if (!line.trim()) return [];
      let o: { messages?: ChatMessage[]; id?: string };
      try {
        o = JSON.parse(line);
      } catch (e) {
        throw new UserError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      const user = o.messages?.filter((m) => m.role === 'user').pop();
      if (!user) throw new UserError(`${path}:${i + 1}: no user message`);
      return [{ id: o.id ?? `q${i + 1}`, question: user.content, messages: o.messages!.filter((m) => m.role !== 'assistant'), form: 'plain' }];
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const list = Array.isArray(data) ? data : (data as { questions?: unknown[] }).questions;
  if (!Array.isArray(list) || !list.length) throw new UserError(`${path}: expected a JSON array of questions or {"questions": [...]}`);
  return list.map((q, i) => {
    if (typeof q === 'string') return { id: `q${i + 1}`, question: q, messages: [{ role: 'user', content: q }], form: 'plain' };
    const o = q as Partial<EvalQuestion>;
    if (typeof o.question !== 'string') throw new UserError(`${path}: question ${i + 1} has no "question" text`);
    return { id: o.id ?? `q${i + 1}`, question: o.question, messages: o.messages ?? [{ role: 'user', content: o.question }], form: o.form ?? 'plain', theme: o.theme };
  });
}
