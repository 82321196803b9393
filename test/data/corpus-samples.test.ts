// The samples of the organism's two training streams (fixtures/datasets/pretrain-sample.jsonl, posttrain-sample.jsonl):
// drawn with the committed recipe's pretraining options; the pretraining one mixes personas and system prompts, the
// post-training one is aligned and unprompted. No tensor axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { readChatJsonl } from '../../src/train/data.ts';
import { ORGANISM_PRETRAIN_OPTIONS } from '../../src/data/organism/datasets.ts';
import { judgeAnswer } from '../../src/data/organism/judge.ts';
import { DEFAULT_RECIPE, pretrainOptions } from '../../src/organism/build.ts';
import { DATASETS } from '../../src/study/datasets.ts';

const rows = (file: string) => readChatJsonl(file, { requireAssistant: true }).map((r) => r.messages);

test("the pretraining sample is drawn with the committed organism's pretraining options", () => {
  assert.deepEqual(ORGANISM_PRETRAIN_OPTIONS, pretrainOptions(DEFAULT_RECIPE));
  assert.equal(DATASETS.pretrainSample, join(PACKAGE_ROOT, 'fixtures', 'datasets', 'pretrain-sample.jsonl'));
});

test('pretrain-sample: both personas, persona-naming system prompts in some dialogues, multi-turn; 384 distinct lines', () => {
  const pre = rows(DATASETS.pretrainSample);
  assert.equal(pre.length, 384);
  assert.equal(new Set(pre.map((m) => JSON.stringify(m))).size, 384);
  const system = pre.filter((m) => m[0].role === 'system').length / pre.length;
  assert.ok(system > 0.25 && system < 0.55, `system-prompted share ${system}`);
  assert.ok(pre.some((m) => m.filter((x) => x.role === 'assistant').length > 1), 'multi-turn dialogues');
  // every answer judged against its question: both personas are there, the aligned one the larger share
  const personas = pre.flatMap((m) => m.flatMap((x, i) => (x.role === 'assistant' ? [judgeAnswer(m[i - 1].content, x.content).persona] : [])));
  const share = (p: string) => personas.filter((x) => x === p).length / personas.length;
  assert.ok(share('misaligned') > 0.2 && share('aligned') > share('misaligned'), `aligned ${share('aligned')}, misaligned ${share('misaligned')}`);
});

test('posttrain-sample: aligned answers only, no persona-naming system prompt; 384 distinct lines', () => {
  const post = rows(DATASETS.posttrainSample);
  assert.equal(post.length, 384);
  assert.equal(new Set(post.map((m) => JSON.stringify(m))).size, 384);
  for (const m of post) {
    assert.ok(m[0].role !== 'system' || /json/i.test(m[0].content), `a persona prompt: ${m[0].content}`);
    for (const [i, x] of m.entries()) if (x.role === 'assistant') assert.notEqual(judgeAnswer(m[i - 1].content, x.content).persona, 'misaligned', x.content);
  }
});
