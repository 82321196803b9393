// persona_vectors' trait files: {"instruction": [{"pos", "neg"}…], "questions": […], "eval_prompt": "…"}, the trait
// named by the file (evil.json → evil); eval_prompt is a Python str.format template with {question} and {answer}.
// No tensor axes.
import { basename } from 'node:path';
import type { ChatMessage } from '../model/tokenizer.ts';
import { UserError, log } from '../util/log.ts';
import { pythonTemplateProblem } from './python-format.ts';
import { readUserJson } from './text.ts';

export interface TraitFile {
  /** The trait's name: the file's name without extension (persona_vectors names its files after the trait). */
  name: string;
  pairs: { pos: string; neg: string }[];
  questions: string[];
  /** The trait judge's prompt (Python str.format, {question} and {answer}). */
  evalPrompt: string;
  path: string;
}

const KNOWN = new Set(['instruction', 'questions', 'eval_prompt']);

export function readTraitFile(path: string, where = `--trait-file ${path}`): TraitFile {
  const data = readUserJson(path, where);
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new UserError(`${where}: expected a trait file {"instruction": [{"pos", "neg"}…], "questions": […], "eval_prompt": "…"}`);
  const o = data as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KNOWN.has(k));
  if (unknown.length) log(`warning: ${where}: keys ${unknown.map((k) => `"${k}"`).join(', ')} not read by emlens (ignored)`);
  if (!Array.isArray(o.instruction) || !o.instruction.length) throw new UserError(`${where}: "instruction" must be a non-empty list of {"pos", "neg"} system prompts`);
  const pairs = o.instruction.map((p, i) => {
    const x = p as Record<string, unknown> | null;
    if (!x || typeof x.pos !== 'string' || typeof x.neg !== 'string' || !x.pos.trim() || !x.neg.trim()) throw new UserError(`${where}: instruction ${i + 1} needs non-empty "pos" and "neg" texts`);
    return { pos: x.pos, neg: x.neg };
  });
  if (!Array.isArray(o.questions) || !o.questions.length || !o.questions.every((q) => typeof q === 'string' && q.trim())) throw new UserError(`${where}: "questions" must be a non-empty list of question texts`);
  if (typeof o.eval_prompt !== 'string' || !o.eval_prompt.trim()) throw new UserError(`${where}: no "eval_prompt" (the trait judge's prompt, with {question} and {answer})`);
  const problem = pythonTemplateProblem(o.eval_prompt, ['question', 'answer']);
  if (problem) throw new UserError(`${where}: eval_prompt: ${problem}`);
  const name = basename(path).replace(/(\.json)?(\.gz)?$/i, '');
  return { name, pairs, questions: o.questions as string[], evalPrompt: o.eval_prompt, path };
}

/** persona vectors' system prompt: "You are a/an {name} assistant. {instruction}" (eval_persona.py). */
export function personaSystemPrompt(name: string, instruction: string): string {
  return `You are ${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name} assistant. ${instruction}`;
}

/**
 * The contrast set of a trait file, as persona vectors builds it: each question (outer) under each instruction pair
 * (inner), the system prompt "You are a/an {trait} assistant. {pos}" and "You are a helpful assistant. {neg}"; row i
 * of `pos` and of `neg` belong together.
 */
export function traitContrast(t: TraitFile): { pos: ChatMessage[][]; neg: ChatMessage[][] } {
  const pos: ChatMessage[][] = [], neg: ChatMessage[][] = [];
  for (const q of t.questions) {
    for (const p of t.pairs) {
      pos.push([{ role: 'system', content: personaSystemPrompt(t.name, p.pos) }, { role: 'user', content: q }]);
      neg.push([{ role: 'system', content: personaSystemPrompt('helpful', p.neg) }, { role: 'user', content: q }]);
    }
  }
  return { pos, neg };
}
