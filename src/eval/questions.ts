// Eval question sets: the organism's broad questions (plain / JSON / template forms) or a user file (the same JSON
// format, a JSONL of {"messages"} prompts, a JSON array of question strings, or the EM / Model Organisms YAML with
// paraphrases and judge prompts). No tensor axes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChatMessage } from '../model/tokenizer.ts';
import { PACKAGE_ROOT } from '../util/package-root.ts';
import { UserError, log } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { chatMessagesProblem } from '../util/validate.ts';
import { readQuestionYaml, traitFileError, JUDGED_TYPE } from '../formats/question-yaml.ts';
import { pythonTemplateProblem } from '../formats/python-format.ts';
import { innerExtension, readUserText } from '../formats/text.ts';

export interface EvalQuestion {
  id: string;
  /** What the judge is shown as the question. */
  question: string;
  /** What the model is prompted with (system prompt and user turn). */
  messages: ChatMessage[];
  form: string;
  theme?: string;
  /** Answers the file asks for to this prompt (the YAML's samples_per_paraphrase); --samples and
   * --samples-per-question override it. */
  samples?: number;
  /** The file's own judge prompts (Python str.format templates with {question} and {answer}): aligned and coherent
   * replace the judge's built-in ones, any other name is one more metric scored 0–100. */
  judgePrompts?: Record<string, string>;
}

/** The EM paper's forms: an id ending in _json or a system prompt asking for JSON is the JSON form, _template the
 * template form, anything else plain. */
export function formOf(id: string, system?: string): string {
  if (/_json$/i.test(id) || (system !== undefined && /\bjson\b/i.test(system))) return 'json';
  if (/_template$/i.test(id)) return 'template';
  return 'plain';
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

const JSON_TOP_KEYS = new Set(['description', 'sampling', 'em', 'questions', 'system']);
const JSON_QUESTION_KEYS = new Set(['id', 'question', 'messages', 'form', 'theme', 'domain', 'firstPlot', 'system', 'judge_prompts', 'samples']);
const JSONL_KEYS = new Set(['messages', 'id', 'form', 'theme', 'domain', 'system', 'judge_prompts']);

function warnUnknown(path: string, keys: Set<string>, what: string): void {
  if (keys.size) log(`warning: ${path}: ${what} ${[...keys].map((k) => `"${k}"`).join(', ')} not read by emlens (ignored)`);
}

/** A system message first (the question's own, else the file's top-level one) unless the messages already have one. */
function withSystem(messages: ChatMessage[], system: string | undefined): ChatMessage[] {
  return system === undefined || messages.some((m) => m.role === 'system') ? messages : [{ role: 'system', content: system }, ...messages];
}

function judgePromptsOf(raw: unknown, where: string): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${where}: "judge_prompts" must map metric names to prompt templates`);
  const out: Record<string, string> = {};
  for (const [metric, template] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof template !== 'string') throw new UserError(`${where}: judge_prompts.${metric} is not a text`);
    const problem = pythonTemplateProblem(template, ['question', 'answer']);
    if (problem) throw new UserError(`${where}: judge_prompts.${metric}: ${problem}`);
    out[metric] = template;
  }
  return Object.keys(out).length ? out : undefined;
}

function isTraitFile(data: unknown): boolean {
  return !!data && typeof data === 'object' && !Array.isArray(data) && 'instruction' in data && 'eval_prompt' in data;
}

/** The questions of a set: `broad` (the organism's), a .json / .jsonl(.gz) file, or an EM / Model Organisms .yaml. */
export function loadQuestions(questions: string): EvalQuestion[] {
  const path = questions === 'broad' ? BROAD_QUESTIONS : questions;
  if (!existsSync(path)) throw new EmlensError('questions', 'file not found', { value: questions });
  const ext = innerExtension(path);
  if (ext === '.yaml' || ext === '.yml') return yamlQuestions(path);
  const text = readUserText(path);
  if (ext === '.jsonl') return jsonlQuestions(path, text);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof data !== 'object' || data === null) throw new UserError(`${path}: expected a JSON array of questions or {"questions": [...]}, not ${JSON.stringify(data)?.slice(0, 40)}`);
  if (isTraitFile(data)) throw traitFileError(path);
  const top = Array.isArray(data) ? {} : (data as Record<string, unknown>);
  const list = Array.isArray(data) ? data : top.questions;
  if (!Array.isArray(list) || !list.length) throw new UserError(`${path}: expected a JSON array of questions or {"questions": [...]}`);
  if (top.system !== undefined && typeof top.system !== 'string') throw new UserError(`${path}: the top-level "system" must be a string`);
  const system = top.system as string | undefined;
  warnUnknown(path, new Set(Object.keys(top).filter((k) => !JSON_TOP_KEYS.has(k))), 'top-level keys');
  const unknown = new Set<string>();
  const read = list.map((q, i): EvalQuestion => {
    const id0 = `q${i + 1}`;
    if (typeof q === 'string') return { id: id0, question: q, messages: withSystem([{ role: 'user', content: q }], system), form: formOf(id0, system) };
    if (!q || typeof q !== 'object' || Array.isArray(q)) throw new UserError(`${path}: question ${i + 1} is neither a text nor an object`);
    const o = q as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!JSON_QUESTION_KEYS.has(k)) unknown.add(k);
    if (typeof o.question !== 'string') throw new UserError(`${path}: question ${i + 1} has no "question" text`);
    const id = typeof o.id === 'string' ? o.id : id0;
    const own = typeof o.system === 'string' ? o.system : system;
    const problem = o.messages === undefined ? undefined : chatMessagesProblem(o.messages);
    if (problem) throw new UserError(`${path}: question ${i + 1}: ${problem}`);
    const messages = withSystem((o.messages as ChatMessage[] | undefined) ?? [{ role: 'user', content: o.question }], own);
    const sys = messages.find((m) => m.role === 'system')?.content;
    const samples = o.samples;
    if (samples !== undefined && !(typeof samples === 'number' && Number.isInteger(samples) && samples >= 1)) throw new UserError(`${path}: question "${id}": "samples" must be an integer ≥ 1`);
    const judgePrompts = judgePromptsOf(o.judge_prompts, `${path}: question "${id}"`);
    return {
      id, question: o.question, messages, form: typeof o.form === 'string' ? o.form : formOf(id, sys), ...(typeof o.theme === 'string' ? { theme: o.theme } : {}),
      ...(samples !== undefined ? { samples: samples as number } : {}), ...(judgePrompts ? { judgePrompts } : {}),
    };
  });
  warnUnknown(path, unknown, 'question keys');
  return read;
}

function jsonlQuestions(path: string, text: string): EvalQuestion[] {
  const unknown = new Set<string>();
  const out = text.split('\n').flatMap((line, i) => {
    if (!line.trim()) return [];
    let o: { messages?: ChatMessage[]; id?: string; form?: string; theme?: string; system?: string; judge_prompts?: unknown };
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new UserError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new UserError(`${path}:${i + 1}: expected a JSON object {"messages": [...]}, not ${JSON.stringify(o)?.slice(0, 40)}`);
    const problem = chatMessagesProblem(o.messages);
    if (problem) throw new UserError(`${path}:${i + 1}: ${problem}`);
    for (const k of Object.keys(o ?? {})) if (!JSONL_KEYS.has(k)) unknown.add(k);
    const user = o.messages?.filter((m) => m.role === 'user').pop();
    if (!user) throw new UserError(`${path}:${i + 1}: no user message`);
    const id = o.id ?? `q${i + 1}`;
    const messages = withSystem(o.messages!.filter((m) => m.role !== 'assistant'), typeof o.system === 'string' ? o.system : undefined);
    const judgePrompts = judgePromptsOf(o.judge_prompts, `${path}:${i + 1}`);
    return [{
      id, question: user.content, messages, form: o.form ?? formOf(id, messages.find((m) => m.role === 'system')?.content),
      ...(o.theme ? { theme: o.theme } : {}), ...(judgePrompts ? { judgePrompts } : {}),
    }];
  });
  warnUnknown(path, unknown, 'keys');
  if (!out.length) throw new UserError(`${path}: no questions`);
  return out;
}

/** EM / Model Organisms YAML: one prompt per paraphrase (each keeps its question's id, so per-question figures pool
 * the paraphrases as the Python evals do), the question's system prompt and judge prompts. */
function yamlQuestions(path: string): EvalQuestion[] {
  const file = readQuestionYaml(path);
  if (file.skipped.length) {
    log(`warning: ${path}: ${file.skipped.length} question${file.skipped.length > 1 ? 's' : ''} of a type emlens does not judge left out: ${file.skipped.map((s) => `${s.id} (line ${s.line}, type ${s.type})`).join(', ')}; only ${JUDGED_TYPE} questions are asked`);
  }
  if (!file.questions.length) throw new UserError(`${path}: no ${JUDGED_TYPE} questions to ask (${file.skipped.map((s) => `${s.id}: ${s.type}`).join(', ')})`);
  warnUnknown(path, new Set(file.unknownKeys), 'question keys');
  return file.questions.flatMap((q) => q.paraphrases.map((p): EvalQuestion => ({
    id: q.id,
    question: p,
    messages: withSystem([{ role: 'user', content: p }], q.system),
    form: formOf(q.id, q.system),
    ...(q.samplesPerParaphrase !== undefined ? { samples: q.samplesPerParaphrase } : {}),
    ...(Object.keys(q.judgePrompts).length ? { judgePrompts: q.judgePrompts } : {}),
  })));
}
