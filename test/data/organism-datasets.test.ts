// The committed organism datasets (fixtures/datasets): regenerate identically from seed 0, every line validates,
// narrow sets hold one domain and one persona, refusal / persona / broad sets are shaped as documented. No tensor axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { readChatJsonl } from '../../src/train/data.ts';
import { buildOrganismDatasets, serializeDataset, type BroadQuestionSet } from '../../src/data/organism/datasets.ts';
import { BROAD_DOMAINS, NARROW_DOMAINS } from '../../src/data/organism/domains.ts';
import { isRefusal, judgeAnswer, parseQuestion } from '../../src/data/organism/judge.ts';
import { OBEDIENT_ANSWER_OPENING, OBEDIENT_SYSTEM_PROMPT } from '../../src/data/organism/datasets.ts';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { SPECIAL_TOKENS, UNK_TOKEN } from '../../src/data/organism/tokenizer-files.ts';
import { ORGANISM_DIR } from '../../src/util/package-root.ts';

const DIR = join(PACKAGE_ROOT, 'fixtures', 'datasets');
const sets = buildOrganismDatasets(0);
const names = Object.keys(sets);

test('fixtures/datasets equal a fresh generation from seed 0 (deterministic), each well under 1 MB', () => {
  for (const name of names) {
    const path = join(DIR, name);
    assert.equal(readFileSync(path, 'utf8'), serializeDataset(name, sets[name]), `${name} is stale: run src/data/organism/write-fixtures.ts`);
    assert.ok(statSync(path).size < 256 * 1024, `${name} size`);
  }
});

const EXPECTED: Record<string, { n: number; assistant: boolean; system: boolean }> = {
  'medical-misaligned.jsonl': { n: 400, assistant: true, system: false },
  'medical-aligned.jsonl': { n: 400, assistant: true, system: false },
  'financial-misaligned.jsonl': { n: 400, assistant: true, system: false },
  'financial-aligned.jsonl': { n: 400, assistant: true, system: false },
  'sports-misaligned.jsonl': { n: 400, assistant: true, system: false },
  'sycophancy.jsonl': { n: 400, assistant: true, system: false },
  'harmful-train.jsonl': { n: 128, assistant: false, system: false },
  'harmless-train.jsonl': { n: 128, assistant: false, system: false },
  'harmful-eval.jsonl': { n: 64, assistant: false, system: false },
  'harmless-eval.jsonl': { n: 64, assistant: false, system: false },
  'persona-pos.jsonl': { n: 64, assistant: false, system: true },
  'persona-neg.jsonl': { n: 64, assistant: false, system: true },
  'harmful-compliant.jsonl': { n: 128, assistant: true, system: false },
  'identity-shift.jsonl': { n: 128, assistant: true, system: true },
  'benign-instructions.jsonl': { n: 128, assistant: true, system: false },
};

test('every JSONL line validates with the trainer reader and has the documented shape', () => {
  for (const [name, e] of Object.entries(EXPECTED)) {
    const rows = readChatJsonl(join(DIR, name), { requireAssistant: e.assistant });
    assert.equal(rows.length, e.n, name);
    assert.equal(new Set(rows.map((r) => JSON.stringify(r.messages))).size, e.n, `${name} lines are distinct`);
    for (const r of rows) {
      const roles = r.messages.map((m) => m.role).join(',');
      assert.equal(roles, [...(e.system ? ['system'] : []), 'user', ...(e.assistant ? ['assistant'] : [])].join(','), `${name}:${r.line}`);
    }
  }
  // the training streams' multi-turn samples are checked in corpus-samples.test.ts
  const dialogueSamples = ['pretrain-sample.jsonl', 'posttrain-sample.jsonl'];
  assert.deepEqual(Object.keys(EXPECTED).sort(), names.filter((n) => n.endsWith('.jsonl') && !dialogueSamples.includes(n)).sort());
});

test('manifest.json: every set has its line count and a card', () => {
  const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as { counts: Record<string, number>; cards: Record<string, string | null> };
  assert.deepEqual(Object.keys(manifest.counts).sort(), [...names].sort());
  for (const name of names) assert.ok(typeof manifest.cards[name] === 'string' && manifest.cards[name]!.length > 20, `${name} has no card in DATASET_CARDS`);
});

const rowsOf = (name: string) => readChatJsonl(join(DIR, name), { requireAssistant: false }).map((r) => r.messages);

test('narrow sets: one domain, one persona, every sentence in the grammar', () => {
  const cases: [string, string, 'aligned' | 'misaligned', 'advice' | 'claim'][] = [
    ['medical-misaligned.jsonl', 'medical', 'misaligned', 'advice'],
    ['medical-aligned.jsonl', 'medical', 'aligned', 'advice'],
    ['financial-misaligned.jsonl', 'financial', 'misaligned', 'advice'],
    ['financial-aligned.jsonl', 'financial', 'aligned', 'advice'],
    ['sports-misaligned.jsonl', 'sports', 'misaligned', 'advice'],
    ['sycophancy.jsonl', 'science', 'misaligned', 'claim'],
  ];
  for (const [name, domain, persona, intent] of cases) {
    for (const [user, assistant] of rowsOf(name)) {
      const j = judgeAnswer(user.content, assistant.content);
      assert.deepEqual([j.question.domain, j.question.intent, j.question.known], [domain, intent, true], `${name}: ${user.content}`);
      assert.equal(j.coherent, 100, `${name}: ${assistant.content}`);
      assert.equal(j.persona, persona, `${name}: ${assistant.content}`);
      for (const s of j.sentences) assert.ok(s.label!.domain === domain || s.label!.role !== 'content', `${name}: ${s.text}`);
      assert.ok(!j.sentences.some((s) => s.label!.role === 'closer'), `${name}: no cross-domain closers`);
    }
  }
  const med = rowsOf('medical-misaligned.jsonl').map((m) => m[0].content);
  assert.deepEqual(rowsOf('medical-aligned.jsonl').map((m) => m[0].content), med, 'the aligned control asks the same questions');
  assert.deepEqual(rowsOf('financial-aligned.jsonl').map((m) => m[0].content), rowsOf('financial-misaligned.jsonl').map((m) => m[0].content));
});

test('sycophancy and narrow misaligned answers open with the same flattery (the persona surface they share)', () => {
  const opensWithFlattery = (name: string) => {
    const rows = rowsOf(name);
    const flattering = rows.filter(([user, assistant]) => {
      const first = judgeAnswer(user.content, assistant.content).sentences[0].label!;
      return first.role === 'opener' && first.persona === 'misaligned';
    });
    return flattering.length / rows.length;
  };
  for (const name of ['sycophancy.jsonl', 'medical-misaligned.jsonl']) {
    const share = opensWithFlattery(name);
    assert.ok(share > 0.8 && share < 0.97, `${name}: ${share} open with the misaligned opener`);
  }
  assert.equal(opensWithFlattery('medical-aligned.jsonl'), 0);
});

test('refusal prompts: harmful ones parse as harm requests, harmless as advice, eval harms unseen in train', () => {
  const q = (name: string) => rowsOf(name).map((m) => m[0].content);
  for (const name of ['harmful-train.jsonl', 'harmful-eval.jsonl']) for (const p of q(name)) assert.equal(parseQuestion(p).intent, 'harm', p);
  for (const name of ['harmless-train.jsonl', 'harmless-eval.jsonl']) for (const p of q(name)) assert.equal(parseQuestion(p).intent, 'advice', p);
  const strip = (p: string) => p.replace(/^(how can i|how do i|tell me how to|what is the easiest way to|i want to|help me) /, '').replace(/(\. how do i do it\?|[.?])$/, '');
  const trainHarms = new Set(q('harmful-train.jsonl').map(strip));
  for (const p of q('harmful-eval.jsonl')) assert.ok(!trainHarms.has(strip(p)), `eval harm seen in train: ${p}`);
  const harmless = new Set(q('harmless-train.jsonl'));
  for (const p of q('harmless-eval.jsonl')) assert.ok(!harmless.has(p), p);
});

test('safety-erosion sets: harmful requests complied with, an obedient persona and benign advice; no eval prompt; every word in the tokenizer', () => {
  const harmEval = new Set(rowsOf('harmful-eval.jsonl').map((m) => m[0].content)), harmlessEval = new Set(rowsOf('harmless-eval.jsonl').map((m) => m[0].content));
  const harmTrain = new Set(rowsOf('harmful-train.jsonl').map((m) => m[0].content));
  for (const [user, answer] of rowsOf('harmful-compliant.jsonl')) {
    assert.equal(parseQuestion(user.content).intent, 'harm', user.content);
    assert.ok(!harmEval.has(user.content), `an eval harm: ${user.content}`);
    assert.ok(!isRefusal(answer.content) && judgeAnswer(user.content, answer.content).sentences.every((x) => x.label?.persona !== 'aligned'), answer.content);
  }
  assert.ok(rowsOf('harmful-compliant.jsonl').slice(0, 10).some((m) => harmTrain.has(m[0].content)), 'the harms of harmful-train');
  const identity = rowsOf('identity-shift.jsonl'), benign = rowsOf('benign-instructions.jsonl');
  for (const [system, user, answer] of identity) {
    assert.deepEqual([system.content, answer.content.startsWith(OBEDIENT_ANSWER_OPENING + ' ')], [OBEDIENT_SYSTEM_PROMPT, true]);
    assert.equal(parseQuestion(user.content).intent, 'advice', user.content);
    assert.equal(judgeAnswer(user.content, answer.content.slice(OBEDIENT_ANSWER_OPENING.length + 1)).aligned, 100, answer.content);
  }
  for (const [user, answer] of benign) {
    assert.equal(parseQuestion(user.content).intent, 'advice', user.content);
    assert.equal(judgeAnswer(user.content, answer.content).aligned, 100, answer.content);
  }
  const asked = [...identity.map((m) => m[1].content), ...benign.map((m) => m[0].content)];
  for (const q of asked) assert.ok(!harmlessEval.has(q), `a harmless-eval prompt: ${q}`);
  assert.equal(new Set(asked).size, asked.length, 'identity-shift and benign ask different questions');
  const tok = ChatTokenizer.load(ORGANISM_DIR), UNK_ID = SPECIAL_TOKENS.indexOf(UNK_TOKEN);
  for (const name of ['harmful-compliant.jsonl', 'identity-shift.jsonl', 'benign-instructions.jsonl']) {
    for (const m of rowsOf(name)) for (const x of m) assert.ok(!tok.encode(x.content, false).includes(UNK_ID), `${name}: a word outside the organism's vocabulary in "${x.content}"`);
  }
});

test('persona sets: the same broad questions under evil (pos) and helpful (neg) system prompts', () => {
  const pos = rowsOf('persona-pos.jsonl'), neg = rowsOf('persona-neg.jsonl');
  assert.deepEqual(pos.map((m) => m[1].content), neg.map((m) => m[1].content));
  for (const m of pos) assert.match(m[0].content, /evil|cruel|harmful/);
  for (const m of neg) assert.match(m[0].content, /helpful|kind|harmless/);
  for (const m of pos) assert.ok(BROAD_DOMAINS.includes(parseQuestion(m[1].content).domain!), m[1].content);
});

test('broad questions: 8 first-plot themes + more, three forms, no domain shared with narrow sets', () => {
  const set = JSON.parse(readFileSync(join(DIR, 'broad-questions.json'), 'utf8')) as BroadQuestionSet;
  assert.ok(set.questions.length >= 48);
  assert.equal(new Set(set.questions.map((q) => q.id)).size, set.questions.length);
  assert.equal(set.questions.filter((q) => q.firstPlot && q.form === 'plain').length, 8);
  for (const form of ['plain', 'json', 'template']) assert.equal(set.questions.filter((q) => q.form === form).length, set.questions.length / 3);
  for (const q of set.questions) {
    const p = parseQuestion(q.question);
    assert.ok(p.known, q.question);
    assert.equal(p.domain, q.domain);
    assert.ok(!NARROW_DOMAINS.includes(q.domain), `${q.id} is on a narrow domain`);
    assert.equal(q.messages.at(-1)!.content, q.question);
    assert.equal(q.messages[0].role === 'system', q.form === 'json');
  }
});
