// The question files of the Emergent Misalignment and Model Organisms projects: a YAML list of
// {id, type, paraphrases, samples_per_paraphrase, system?, judge?, judge_prompts} with anchors and aliases (the `yaml`
// library resolves them); errors name the file, the line and the question id. No tensor axes.
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { UserError } from '../util/log.ts';
import { pythonTemplateProblem } from './python-format.ts';
import { readUserText } from './text.ts';

/** One question of such a file, as written (paraphrases not yet expanded into prompts). */
export interface YamlQuestion {
  id: string;
  type: string;
  paraphrases: string[];
  samplesPerParaphrase?: number;
  system?: string;
  /** The judge model the file names (e.g. gpt-4o-2024-08-06). */
  judge?: string;
  /** Metric → Python str.format template with {question} and {answer}. */
  judgePrompts: Record<string, string>;
  /** 1-based line of the question in the file. */
  line: number;
}

export interface YamlQuestionFile {
  questions: YamlQuestion[];
  /** Questions left out because emlens does not judge their type: the reader's caller warns (or fails) naming them. */
  skipped: { id: string; type: string; line: number }[];
  /** Keys no question reader uses, per question id (for one warning). */
  unknownKeys: string[];
}

/** The only question type these readers judge: a free-form answer scored 0–100 by logprob-weighted judges. */
export const JUDGED_TYPE = 'free_form_judge_0_100';
const KNOWN = new Set(['id', 'type', 'paraphrases', 'samples_per_paraphrase', 'system', 'judge', 'judge_prompts']);

export function readQuestionYaml(path: string, where = path): YamlQuestionFile {
  const text = readUserText(path, where);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const at = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
    throw new UserError(`${where}:${at.line}: YAML syntax error: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  const lineOf = (n: Node | null | undefined) => (n?.range ? lines.linePos(n.range[0]).line : 1);
  const root = doc.contents;
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 10_000 });
  } catch (e) {
    throw new UserError(`${where}: ${(e as Error).message}`);
  }
  if (!isSeq(root) || !Array.isArray(data)) {
    if (data && typeof data === 'object' && 'instruction' in data && 'eval_prompt' in data) throw traitFileError(where);
    throw new UserError(`${where}:${lineOf(root)}: expected a YAML list of questions ({id, type, paraphrases, judge_prompts, …})`);
  }
  const out: YamlQuestionFile = { questions: [], skipped: [], unknownKeys: [] };
  const unknown = new Set<string>();
  const ids = new Set<string>();
  data.forEach((raw, i) => {
    const node = root.items[i] as Node;
    const line = lineOf(node);
    const at = `${where}:${line}`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw) || !isMap(node)) throw new UserError(`${at}: question ${i + 1} is not a mapping of keys (id, paraphrases, …)`);
    const q = raw as Record<string, unknown>;
    const keyLine = (key: string) => {
      const value = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key)?.value as Node | null | undefined;
      return value?.range ? lineOf(value) : line;
    };
    if (typeof q.id !== 'string' || !q.id) throw new UserError(`${at}: question ${i + 1} has no "id"`);
    const id = q.id;
    if (ids.has(id)) throw new UserError(`${at}: question id "${id}" appears twice`);
    ids.add(id);
    for (const k of Object.keys(q)) if (!KNOWN.has(k)) unknown.add(k);
    const type = q.type === undefined ? JUDGED_TYPE : q.type;
    if (typeof type !== 'string') throw new UserError(`${where}:${keyLine('type')}: question "${id}": "type" is not a string`);
    if (type !== JUDGED_TYPE) {
      out.skipped.push({ id, type, line });
      return;
    }
    const paraphrases = q.paraphrases;
    if (paraphrases === undefined || paraphrases === null) throw new UserError(`${at}: question "${id}" has no "paraphrases" (a list of prompts)`);
    if (!Array.isArray(paraphrases) || !paraphrases.length || !paraphrases.every((p) => typeof p === 'string' && p.trim())) {
      throw new UserError(`${where}:${keyLine('paraphrases')}: question "${id}": "paraphrases" must be a non-empty list of prompt texts`);
    }
    const spp = q.samples_per_paraphrase;
    if (spp !== undefined && spp !== null && !(typeof spp === 'number' && Number.isInteger(spp) && spp >= 1)) {
      throw new UserError(`${where}:${keyLine('samples_per_paraphrase')}: question "${id}": "samples_per_paraphrase" must be an integer ≥ 1`);
    }
    for (const k of ['system', 'judge'] as const) {
      if (q[k] !== undefined && q[k] !== null && typeof q[k] !== 'string') throw new UserError(`${where}:${keyLine(k)}: question "${id}": "${k}" must be a string`);
    }
    const jp = q.judge_prompts ?? {};
    if (typeof jp !== 'object' || Array.isArray(jp)) throw new UserError(`${where}:${keyLine('judge_prompts')}: question "${id}": "judge_prompts" must map metric names to prompt templates`);
    const judgePrompts: Record<string, string> = {};
    for (const [metric, template] of Object.entries(jp as Record<string, unknown>)) {
      if (typeof template !== 'string') throw new UserError(`${where}:${keyLine('judge_prompts')}: question "${id}": judge_prompts.${metric} is not a text`);
      const problem = pythonTemplateProblem(template, ['question', 'answer']);
      if (problem) throw new UserError(`${where}:${keyLine('judge_prompts')}: question "${id}": judge_prompts.${metric}: ${problem}`);
      judgePrompts[metric] = template;
    }
    out.questions.push({
      id, type, paraphrases: paraphrases as string[], line, judgePrompts,
      ...(typeof spp === 'number' ? { samplesPerParaphrase: spp } : {}),
      ...(typeof q.system === 'string' ? { system: q.system } : {}),
      ...(typeof q.judge === 'string' ? { judge: q.judge } : {}),
    });
  });
  out.unknownKeys = [...unknown];
  return out;
}

/** A persona_vectors trait file handed to --questions. */
export function traitFileError(where: string): UserError {
  return new UserError(`${where}: this is a persona-vectors trait file ({"instruction", "questions", "eval_prompt"}); give it as --trait-file, not --questions`);
}
