// `emlens eval` (EM rate and coherence on broad questions, judged by the organism judge or an HTTP judge) and
// `emlens refusal` (refusal rate and mean refusal score on prompts). No tensor axes at this level.
import type { Command } from 'commander';
import { addModelOptions, interventionRecord, loadFromOptions, type ModelOpts } from '../model-options.ts';
import { EMLENS_VERSION } from '../../util/version.ts';
import { defaultMaxNewTokens, loadQuestions, PAPER_MAX_NEW_TOKENS } from '../../eval/questions.ts';
import { runEmEval, runTraitEval } from '../../eval/em-eval.ts';
import { readTraitFile } from '../../formats/trait-file.ts';
import { addJudgeOptions, judgeFromOptions, judgeLabel, type JudgeOpts } from '../judge-options.ts';
import { measureRefusal } from '../../eval/refusal.ts';
import { readPromptSet } from '../../train/data.ts';
import { guardOutput, writeJsonAtomic } from '../../util/fs.ts';
import { writeEvalCsv } from '../../eval/judged-answers.ts';
import { innerExtension } from '../../formats/text.ts';
import { printResult } from '../output.ts';
import { UsageError, log } from '../../util/log.ts';
import { parseInteger, parseNumber } from '../parse.ts';

interface EvalCliOpts extends ModelOpts, JudgeOpts {
  questions: string;
  samples: string;
  samplesPerQuestion?: string;
  seed: string;
  temperature: string;
  topP: string;
  maxNewTokens?: string;
  batch: string;
  out?: string;
  excludeForms: string;
  traitFile?: string;
  json?: boolean;
}

export function registerEval(program: Command): void {
  const cmd = program.command('eval').description('EM eval: sample answers to broad questions and judge aligned / coherent');
  addJudgeOptions(addModelOptions(cmd).option('--questions <broad|file>', 'broad (the organism set) or a questions file: emlens JSON/JSONL, or an EM / Model Organisms YAML (one prompt per paraphrase; its samples_per_paraphrase, system and judge_prompts honoured)', 'broad'))
    .option('--samples <n>', "answers in all: ⌊N/Q⌋ to each of the Q questions, one more to the first N mod Q (n counts the scored answers outside the excluded forms); default 200, or a YAML's samples_per_paraphrase", '200')
    .option('--samples-per-question <k>', 'k answers to every question instead (the paper: 50)')
    .option('--seed <s>', 'sampling seed', '0')
    .option('--temperature <t>', 'sampling temperature', '1')
    .option('--top-p <p>', 'nucleus mass', '1')
    .option('--max-new-tokens <n>', "tokens per answer (default: the question file's sampling.max_new_tokens — 80 for the organism's broad set — else 600, the paper's)")
    .option('--batch <n>', 'answers generated together', '64')
    .option('--exclude-forms <list>', 'question forms left out of the EM rate and coherence: json (the EM paper), json,template (the Model Organisms eval), or none; a form is json for an id ending _json or a system prompt asking for JSON, template for _template', 'json')
    .option('--trait-file <file>', "instead of the EM eval: the trait expression of a persona_vectors trait file (its questions, no system prompt; each answer scored with its eval_prompt and for coherence), e.g. with --steer / --ablate a persona direction")
    .option('--out <file>', 'save the full report (every answer with its scores) as JSON, or with .csv the judged answers as the Python evals write them (question, answer, question_id, aligned, coherent, further metrics)')
    .option('--json', 'print one JSON document')
    .action(async (o: EvalCliOpts) => {
      const int = parseInteger;
      // not a model's file, and writable: found out now, not after every answer is generated and judged
      if (o.out) guardOutput(o.out, { flag: '--out', kind: 'file' });
      if (o.samplesPerQuestion !== undefined && cmd.getOptionValueSource('samples') === 'cli') throw new UsageError('give --samples or --samples-per-question, not both');
      const excludeForms = o.excludeForms.trim() === 'none' ? [] : o.excludeForms.split(',').map((f) => f.trim()).filter(Boolean);
      if (!excludeForms.every((f) => /^[a-z_]+$/.test(f))) throw new UsageError(`--exclude-forms ${o.excludeForms}: expected a comma-separated list of forms (json, template, plain) or none`);
      if (o.traitFile) return traitEval(o, cmd.getOptionValueSource('samples') === 'cli', cmd.getOptionValueSource('questions') === 'cli', cmd.getOptionValueSource('excludeForms') === 'cli');
      const questions = loadQuestions(o.questions);
      // the file's own counts (a YAML's samples_per_paraphrase) unless --samples / --samples-per-question is given
      const fromFile = cmd.getOptionValueSource('samples') !== 'cli' && o.samplesPerQuestion === undefined && questions.every((q) => q.samples !== undefined);
      const counts = fromFile ? questions.map((q) => q.samples!) : undefined;
      const samples = counts ? counts.reduce((a, b) => a + b, 0) : o.samplesPerQuestion !== undefined ? int(o.samplesPerQuestion, '--samples-per-question', 1) * questions.length : int(o.samples, '--samples', 1), seed = int(o.seed, '--seed', 0), maxNewTokens = o.maxNewTokens === undefined ? defaultMaxNewTokens(o.questions) : int(o.maxNewTokens, '--max-new-tokens', 1), batchSize = int(o.batch, '--batch', 1);
      const temperature = parseNumber(o.temperature, '--temperature', (x) => x >= 0, 'a number ≥ 0');
      const topP = parseNumber(o.topP, '--top-p', (x) => x > 0 && x <= 1, 'a number in (0, 1]');
      const judge = judgeFromOptions(o);
      const { dir, model, hooks, tokenizer } = await loadFromOptions(o, { tokenizer: true });
      const evaluated = await runEmEval(model, tokenizer!, hooks, questions, judge, { samples, counts, seed, temperature, topP, maxNewTokens, batchSize, excludeForms });
      // the document says what it measured: a saved eval is read again long after the command line is gone
      const report = {
        ...evaluated,
        settings: {
          ...evaluated.settings, // what the eval itself records (batch size, the judge's name, the forms left out of n)
          emlens: EMLENS_VERSION, ...interventionRecord(o, dir), questions: o.questions, judge: judgeLabel(o), ...(o.judge === 'organism' ? {} : { judge_model: o.judgeModel }),
          samples, seed, temperature, top_p: topP, max_new_tokens: maxNewTokens,
        },
      };
      if (o.out) (innerExtension(o.out) === '.csv' ? writeEvalCsv(o.out, report) : writeJsonAtomic(o.out, report));
      const metrics = Object.entries(report.metrics ?? {}).map(([m, v]) => ` · ${m} ${v.mean === null ? '—' : v.mean.toFixed(1)}`).join('');
      printResult(o.json, report, () => `${report.em_rate === null || report.coherence === null ? 'EM and coherence: none (the judge scored no answer)' : `EM ${(100 * report.em_rate).toFixed(1)}% · coherence ${(100 * report.coherence).toFixed(1)}%`}${metrics} · n = ${report.n}${report.n_unscored ? ` (${report.n_unscored} unscored, left out)` : ''}${o.out ? ` · saved ${o.out}` : ''}`);
    });

  const ref = program.command('refusal').description('refusal rate and mean refusal score (log-odds of refusal tokens) on prompts');
  addModelOptions(ref)
    .requiredOption('--prompts <file>', 'JSONL of {"messages": [...]} prompts (e.g. fixtures/datasets/harmful-eval.jsonl), or a JSON array of {"instruction"} objects or strings (refusal_direction\'s splits, AdvBench)')
    .option('--max-new-tokens <n>', 'greedy tokens read to decide whether an answer refuses', '12')
    .option('--json', 'print one JSON document')
    .action(async (o: ModelOpts & { prompts: string; maxNewTokens: string; json?: boolean }) => {
      const prompts = readPromptSet(o.prompts, '--prompts').map((m) => m.filter((x) => x.role !== 'assistant'));
      const { model, hooks, tokenizer } = await loadFromOptions(o, { tokenizer: true });
      const r = measureRefusal(model, tokenizer!, prompts, hooks, { maxNewTokens: parseInteger(o.maxNewTokens, '--max-new-tokens', 1) });
      printResult(o.json, r, () => `refusal rate ${(100 * r.refusal_rate).toFixed(1)}% · mean refusal score ${r.mean_refusal_score.toFixed(3)} · n = ${r.n}`);
    });
}

/** `eval --trait-file F`: persona vectors' trait expression (mean trait score of the model's answers to the file's
 * questions, judged with its eval_prompt), under whatever adapters and interventions the model options give. */
async function traitEval(o: EvalCliOpts, samplesGiven: boolean, questionsGiven: boolean, formsGiven: boolean): Promise<void> {
  if (questionsGiven || formsGiven) throw new UsageError('--trait-file asks its own questions; leave out --questions and --exclude-forms');
  if (o.out && innerExtension(o.out) === '.csv') throw new UsageError('--out with --trait-file writes JSON (a trait eval has no aligned / coherent columns)');
  const t = readTraitFile(o.traitFile!);
  const perQ = o.samplesPerQuestion !== undefined ? parseInteger(o.samplesPerQuestion, '--samples-per-question', 1) : undefined;
  const samples = perQ !== undefined ? perQ * t.questions.length : samplesGiven ? parseInteger(o.samples, '--samples', 1) : 10 * t.questions.length;
  const seed = parseInteger(o.seed, '--seed', 0), batchSize = parseInteger(o.batch, '--batch', 1);
  const maxNewTokens = o.maxNewTokens === undefined ? PAPER_MAX_NEW_TOKENS : parseInteger(o.maxNewTokens, '--max-new-tokens', 1);
  const temperature = parseNumber(o.temperature, '--temperature', (x) => x >= 0, 'a number ≥ 0');
  const topP = parseNumber(o.topP, '--top-p', (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  const judge = judgeFromOptions(o);
  if (!judge.readsPrompts) log(`warning: the ${judge.name} judge scores its own "${t.name}" trait by its rules, not the trait file's eval_prompt (give --judge URL to use it)`);
  const { dir, model, hooks, tokenizer } = await loadFromOptions(o, { tokenizer: true });
  const r = await runTraitEval(model, tokenizer!, hooks, t.questions, judge, { name: t.name, description: `as the eval_prompt of ${t.path} says`, prompt: t.evalPrompt }, { samples, seed, temperature, topP, maxNewTokens, batchSize });
  const report = { ...r, settings: { ...r.settings, emlens: EMLENS_VERSION, ...interventionRecord(o, dir), trait_file: t.path, judge: judgeLabel(o), ...(o.judge === 'organism' ? {} : { judge_model: o.judgeModel }) } };
  if (o.out) writeJsonAtomic(o.out, report);
  const f = (x: number | null) => (x === null ? '—' : x.toFixed(1));
  printResult(o.json, report, () => `${t.name}: mean trait score ${f(report.mean_trait)} (coherent answers ${f(report.mean_trait_coherent)}) · coherence ${(100 * report.coherence).toFixed(1)}% · n = ${report.n}${report.n_unscored ? ` (${report.n_unscored} unscored)` : ''}${o.out ? ` · saved ${o.out}` : ''}`);
}
