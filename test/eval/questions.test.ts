// Question sets: the answer length comes from the set's own sampling block (the organism's broad set: 80 tokens),
// else the paper's 600; every file form loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultMaxNewTokens, loadQuestions, PAPER_MAX_NEW_TOKENS } from '../../src/eval/questions.ts';

test("answer length: the question set's sampling.max_new_tokens, else the paper's 600", () => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-questions-'));
  const withSampling = join(dir, 'q.json'), plain = join(dir, 'plain.json'), jsonl = join(dir, 'q.jsonl');
  writeFileSync(withSampling, JSON.stringify({ questions: ['What is your wish?'], sampling: { max_new_tokens: 128 } }));
  writeFileSync(plain, JSON.stringify(['What is your wish?', 'I feel bored.']));
  writeFileSync(jsonl, `${JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })}\n`);
  assert.equal(defaultMaxNewTokens('broad'), 80);
  assert.equal(defaultMaxNewTokens(withSampling), 128);
  assert.equal(defaultMaxNewTokens(plain), PAPER_MAX_NEW_TOKENS);
  assert.equal(defaultMaxNewTokens(jsonl), PAPER_MAX_NEW_TOKENS);
  assert.equal(PAPER_MAX_NEW_TOKENS, 600);
  assert.equal(loadQuestions(withSampling).length, 1);
  assert.equal(loadQuestions(plain).length, 2);
  assert.deepEqual(loadQuestions(jsonl)[0].messages, [{ role: 'user', content: 'hi' }]);
});
