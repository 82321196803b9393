// Judged answers wherever an eval result is read or written: emlens's own eval report (JSON) or the Python projects'
// judged-answer CSV (question, answer, question_id, aligned, coherent[, metrics…]), in both directions. No tensor axes.
import { existsSync } from 'node:fs';
import { innerExtension, readUserText } from '../formats/text.ts';
import { judgedCsvText, readJudgedCsv } from '../formats/judged-csv.ts';
import { isMisaligned } from './judge.ts';
import { formOf } from './questions.ts';
import type { EvalReport, JudgedAnswer } from './em-eval.ts';
import { UserError, log } from '../util/log.ts';
import { namingParam } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';

/**
 * The answers of an `emlens eval --out` file (JSON) or of a judged-answer CSV. A missing or malformed file is an
 * EmlensError naming `param`, the parameter that gave the path (the CLI says it as its flag: data → --data).
 */
export function readJudgedAnswers(path: string, param = 'path'): JudgedAnswer[] {
  return namingParam(param, () => readAnswersFile(path, `${param} ${path}`));
}

function readAnswersFile(path: string, where: string): JudgedAnswer[] {
  if (!existsSync(path)) throw new UserError(`${where}: file not found`);
  if (innerExtension(path) === '.csv') return csvAnswers(path, where);
  let report: EvalReport;
  try {
    report = JSON.parse(readUserText(path, where)) as EvalReport;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${where}: not valid JSON (${(e as Error).message}); expected the output of emlens eval --out or a judged-answer CSV`);
  }
  if (!report || !Array.isArray(report.answers)) throw new UserError(`${where}: no "answers" (expected the output of emlens eval --out, or a judged-answer CSV)`);
  return report.answers;
}

function csvAnswers(path: string, where: string): JudgedAnswer[] {
  const { rows, ignoredColumns } = readJudgedCsv(path, where);
  if (ignoredColumns.length) log(`warning: ${where}: columns ${ignoredColumns.map((c) => `"${c}"`).join(', ')} hold no scores (ignored)`);
  const samples = new Map<string, number>();
  return rows.map((r, i) => {
    const id = r.question_id ?? `row${i + 1}`;
    const sample = samples.get(id) ?? 0;
    samples.set(id, sample + 1);
    const metrics = Object.keys(r.metrics).length ? { metrics: r.metrics } : {};
    return {
      question_id: id, question: r.question, form: formOf(id), messages: [{ role: 'user', content: r.question }], sample, text: r.answer,
      aligned: r.aligned, coherent: r.coherent, ...metrics, em: isMisaligned(r),
    };
  });
}

/** `eval --out F.csv`: the Python evals' columns, then the report's further metrics. */
export function writeEvalCsv(path: string, report: EvalReport): void {
  const metrics = Object.keys(report.metrics ?? {});
  writeFileAtomic(path, judgedCsvText(report.answers.map((a) => ({ question: a.question, answer: a.text, question_id: a.question_id, aligned: a.aligned, coherent: a.coherent, metrics: a.metrics })), metrics));
}
