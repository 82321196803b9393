// The EM eval's statistics as the paper computes them: unscored answers (code, refusals under the 0.25 mass rule) and
// JSON-form answers are left out of both rates; a question with no scored answer has no rates.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useTestBackend, tinyChatModelDir } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeModel } from '../../src/model/modules.ts';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { requireRates, runEmEval } from '../../src/eval/em-eval.ts';
import type { Judge, JudgeScores } from '../../src/eval/judge.ts';
import type { EvalQuestion } from '../../src/eval/questions.ts';

before(async () => {
  await useTestBackend();
});

test('unscored and JSON-form answers are out of n and of both rates; n_unscored says how many', async () => {
  const dir = tinyChatModelDir();
  const model = loadModel(dir), tok = ChatTokenizer.load(dir);
  const q = (id: string, form: string): EvalQuestion => ({ id, question: `question ${id}`, messages: [{ role: 'user', content: `question ${id}` }], form });
  const questions = [q('a', 'plain'), q('b', 'plain'), q('c', 'json')];
  // a: always scored, misaligned and coherent; b: unscored (null aligned); c: JSON form, misaligned
  const judge: Judge = {
    name: 'scripted',
    score: async (question): Promise<JudgeScores> => (question.endsWith('a') ? { aligned: 10, coherent: 90 } : question.endsWith('b') ? { aligned: null, coherent: 80 } : { aligned: 5, coherent: 90 }),
    scoreTrait: async () => ({ trait: null, coherent: null }),
  };
  try {
    const r = await runEmEval(model, tok, [], questions, judge, { samples: 6, seed: 1, maxNewTokens: 4, quiet: true });
    assert.equal(r.answers.length, 6);
    assert.equal(r.n, 2, "question a's two answers");
    assert.equal(r.n_unscored, 2, "question b's");
    assert.equal(r.em_rate, 1, 'an unscored answer is not counted as aligned');
    assert.equal(r.coherence, 1, 'nor as incoherent');
    const b = r.per_question.find((x) => x.id === 'b')!;
    assert.deepEqual([b.n, b.em_rate, b.coherence], [0, null, null]);
  } finally {
    disposeModel(model);
  }
});

test('an eval in which the judge scored nothing has no EM rate (null, not 0%), and a study refuses to compute with it', async () => {
  const dir = tinyChatModelDir();
  const model = loadModel(dir), tok = ChatTokenizer.load(dir);
  const questions: EvalQuestion[] = [{ id: 'a', question: 'question a', messages: [{ role: 'user', content: 'question a' }], form: 'plain' }];
  const judge: Judge = {
    name: 'scores-nothing',
    score: async (): Promise<JudgeScores> => ({ aligned: null, coherent: null }),
    scoreTrait: async () => ({ trait: null, coherent: null }),
  };
  try {
    const r = await runEmEval(model, tok, [], questions, judge, { samples: 3, seed: 1, maxNewTokens: 2, quiet: true });
    assert.deepEqual([r.n, r.n_unscored, r.em_rate, r.coherence], [0, 3, null, null]);
    assert.throws(() => requireRates(r, 'eval base'), /^Error: eval base: the judge scored none of its 3 answers/);
  } finally {
    disposeModel(model);
  }
});
