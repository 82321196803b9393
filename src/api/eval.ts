// evalEm(lm, questions, judge): the EM eval of a model (with hooks) on a question set, judged. No tensor axes here.
import { runEmEval, type EvalOptions, type EvalReport } from '../eval/em-eval.ts';
import { defaultMaxNewTokens, loadQuestions, type EvalQuestion } from '../eval/questions.ts';
import { OrganismJudge } from '../eval/organism-judge.ts';
import type { Judge } from '../eval/judge.ts';
import type { Hook } from '../model/hooks.ts';
import type { LanguageModel } from './language-model.ts';

export type EvalEmOptions = Partial<EvalOptions> & { hooks?: Hook[] };

/**
 * EM rate and coherence of `lm`'s answers: `questions` is 'broad' (the organism's held-out set), a question file, or
 * questions; `judge` defaults to the organism's exact judge (an HttpJudge for real models). Defaults: 100 answers, seed 0.
 */
export async function evalEm(lm: LanguageModel, questions: string | EvalQuestion[] = 'broad', judge: Judge = new OrganismJudge(), o: EvalEmOptions = {}): Promise<EvalReport> {
  const qs = typeof questions === 'string' ? loadQuestions(questions) : questions;
  const { hooks = [], ...rest } = o;
  const maxNewTokens = rest.maxNewTokens ?? (typeof questions === 'string' ? defaultMaxNewTokens(questions) : undefined);
  return runEmEval(lm.model, lm.tokenizer, hooks, qs, judge, { samples: 100, seed: 0, quiet: true, ...rest, maxNewTokens });
}
