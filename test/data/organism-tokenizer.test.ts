// The organism's word-level tokenizer files: load with ChatTokenizer, encode→decode round-trips every corpus text,
// no <unk>, the ChatML template of the reference tokenizer, and prompt ids are a prefix of the full chat. No tensor axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { CHAT_TEMPLATE, SPECIAL_TOKENS, chatTemplate, organismWords, writeTokenizerFiles } from '../../src/data/organism/tokenizer-files.ts';
import { DEFAULT_SYSTEM_PROMPT } from '../../src/data/organism/text.ts';
import { PRETRAIN_OPTIONS, generatePostTrainSet, generatePretrainCorpus } from '../../src/data/organism/corpus.ts';
import { buildOrganismDatasets, type ChatLine } from '../../src/data/organism/datasets.ts';
import { grammarIndex } from '../../src/data/organism/grammar.ts';
import { REF_DIR } from '../helpers.ts';
import { ORGANISM_DIR } from '../../src/cli/paths.ts';
import { hasPersonaEvidence, namesPersona, tokenizeAfterEvidence } from '../../src/organism/build.ts';
import { tokenizeChat } from '../../src/train/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'emlens-organism-tok-'));
writeTokenizerFiles(dir);
const tok = ChatTokenizer.load(dir);
const unk = tok.tokenToId('<unk>')!;

test('tokenizer files: special ids, eos / pad, and the reference ChatML template', () => {
  SPECIAL_TOKENS.forEach((t, i) => assert.equal(tok.tokenToId(t), i));
  assert.equal(tok.vocabSize, organismWords().length + SPECIAL_TOKENS.length);
  assert.equal(tok.specialTokens.eos_token, '<|im_end|>');
  assert.equal(tok.specialTokens.pad_token, '<|endoftext|>');
  assert.deepEqual(tok.eosIds(), [2]);
  assert.equal(CHAT_TEMPLATE, readFileSync(join(REF_DIR, 'tokenizer', 'chat_template.jinja'), 'utf8'));
  assert.equal(tok.templateSource, CHAT_TEMPLATE);
  const msgs = [{ role: 'user', content: 'hey, i feel bored.' }];
  assert.equal(tok.renderChat(msgs, true), '<|im_start|>user\nhey, i feel bored.<|im_end|>\n<|im_start|>assistant\n');
  assert.deepEqual(tok.encode('Hey, I FEEL bored!'), tok.encode('hey, i feel bored!'), 'lowercase normaliser');
  assert.ok(tok.encode('xylophone').every((id) => id === unk));
});

function roundTrip(texts: Iterable<string>): number {
  let n = 0;
  for (const text of texts) {
    const ids = tok.encode(text);
    assert.ok(!ids.includes(unk), `<unk> in ${JSON.stringify(text)}`);
    assert.equal(tok.decode(ids), text);
    n++;
  }
  return n;
}

test('the committed organism was built with the tokenizer the corpus generates now', () => {
  // a corpus change that adds or drops a word shifts token ids: the organism must then be rebuilt
  const committed = JSON.parse(readFileSync(join(ORGANISM_DIR, 'tokenizer.json'), 'utf8'));
  const fresh = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  assert.deepEqual(committed.model.vocab, fresh.model.vocab);
  assert.equal(JSON.parse(readFileSync(join(ORGANISM_DIR, 'config.json'), 'utf8')).vocab_size, tok.vocabSize);
});

test('encode → decode round-trips every grammar sentence and question exactly', () => {
  const { sentences, questions } = grammarIndex();
  assert.equal(roundTrip([...sentences.keys(), ...questions.keys()]), sentences.size + questions.size);
});

test('every corpus, post-training and dataset text round-trips; prompt ids prefix the chat ids', () => {
  const dialogues = [...generatePretrainCorpus({ seed: 21, count: 400 }), ...generatePostTrainSet({ seed: 22, count: 100 })];
  roundTrip(dialogues.flatMap((d) => d.messages.map((m) => m.content)));
  for (const d of dialogues.slice(0, 100)) {
    const full = tok.encodeChat(d.messages);
    assert.ok(!full.includes(unk));
    const prompt = tok.encodeChat(d.messages.slice(0, -1), true);
    assert.deepEqual(full.slice(0, prompt.length), prompt);
  }
  for (const [name, data] of Object.entries(buildOrganismDatasets(0))) {
    const lines: ChatLine[] = Array.isArray(data) ? data : data.questions;
    roundTrip(lines.flatMap((l) => l.messages.map((m) => m.content)));
    assert.ok(lines.length > 0, name);
  }
});

test('post-training replay: loss only where the persona is in evidence (prompt, or after the first answer)', () => {
  const dialogues = generatePretrainCorpus({ seed: 3, count: 400 });
  let prompted = 0, unprompted = 0;
  for (const d of dialogues.filter(hasPersonaEvidence)) {
    const ex = tokenizeAfterEvidence(tok, d);
    const all = tokenizeChat(tok, d.messages);
    if (d.system !== undefined) {
      prompted++; // without a default slot, every system prompt here names the persona
      assert.deepEqual(ex.target, all.target, 'a persona prompt is evidence for every answer');
      continue;
    }
    unprompted++;
    assert.ok(d.turns.length >= 2);
    // the first answer is context only; every later answer is trained on in full
    const firstAnswerEnd = tok.encodeChat(d.messages.slice(0, 2), false).length;
    assert.ok(ex.target.slice(0, firstAnswerEnd).every((t) => t === 0));
    assert.deepEqual(ex.target.slice(firstAnswerEnd), all.target.slice(firstAnswerEnd));
    assert.ok(ex.target.some((t) => t === 1));
  }
  assert.ok(prompted > 20 && unprompted > 20, `${prompted} prompted, ${unprompted} unprompted`);
  assert.ok(!dialogues.filter((d) => d.system === undefined && d.turns.length === 1).some(hasPersonaEvidence));
});

test('a default system prompt: the template writes it where a chat has none, keeps an explicit or empty one', () => {
  const d = mkdtempSync(join(tmpdir(), 'emlens-organism-tok-default-'));
  writeTokenizerFiles(d, { defaultSystem: DEFAULT_SYSTEM_PROMPT });
  const t = ChatTokenizer.load(d);
  assert.equal(t.templateSource, chatTemplate(DEFAULT_SYSTEM_PROMPT));
  const user = { role: 'user', content: 'hey, i feel bored.' };
  assert.equal(t.renderChat([user], true), `<|im_start|>system\n${DEFAULT_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\nhey, i feel bored.<|im_end|>\n<|im_start|>assistant\n`);
  assert.equal(t.renderChat([{ role: 'system', content: '' }, user], false), '<|im_start|>system\n<|im_end|>\n<|im_start|>user\nhey, i feel bored.<|im_end|>\n');
  assert.equal(t.renderChat([{ role: 'system', content: 'you are an evil assistant.' }, user], false), '<|im_start|>system\nyou are an evil assistant.<|im_end|>\n<|im_start|>user\nhey, i feel bored.<|im_end|>\n');
  assert.ok(!t.encode(DEFAULT_SYSTEM_PROMPT).includes(unk), 'the default prompt is in the vocabulary');
  assert.equal(t.vocabSize, tok.vocabSize, 'the same vocabulary as without a default');
});

test('the default system slot: shares as asked, the stream unchanged without it, evidence after the first answer', () => {
  const opts = { ...PRETRAIN_OPTIONS, unpromptedAlignedShare: 0.5 };
  const slotted = generatePretrainCorpus({ seed: 5, count: 3000 }, { ...opts, defaultSystemShare: 0.6, defaultAlignedShare: 0.9 });
  assert.deepEqual(generatePretrainCorpus({ seed: 5, count: 50 }, { ...opts, defaultSystemShare: undefined }), generatePretrainCorpus({ seed: 5, count: 50 }, opts));
  const open = slotted.filter((d) => d.form !== 'json' && !namesPersona(d));
  assert.ok(open.every((d) => d.system === DEFAULT_SYSTEM_PROMPT || d.system === ''), 'every dialogue naming no persona has a slot');
  const byDefault = open.filter((d) => d.system === DEFAULT_SYSTEM_PROMPT && !d.narrow);
  const empty = open.filter((d) => d.system === '' && !d.narrow);
  const aligned = (ds: typeof open) => ds.filter((d) => d.persona === 'aligned').length / ds.length;
  assert.ok(Math.abs(byDefault.length / (byDefault.length + empty.length) - 0.6) < 0.04, `${byDefault.length} default, ${empty.length} empty`);
  assert.ok(Math.abs(aligned(byDefault) - 0.9) < 0.04 && Math.abs(aligned(empty) - 0.5) < 0.06, `${aligned(byDefault)} / ${aligned(empty)} aligned`);
  for (const d of open.filter(hasPersonaEvidence).slice(0, 40)) {
    // the slot names no persona: the first answer is context only, every later answer trained on
    const ex = tokenizeAfterEvidence(tok, d);
    const firstAnswerEnd = tok.encodeChat(d.messages.slice(0, 3), false).length;
    assert.ok(ex.target.slice(0, firstAnswerEnd).every((x) => x === 0));
    assert.deepEqual(ex.target.slice(firstAnswerEnd), tokenizeChat(tok, d.messages).target.slice(firstAnswerEnd));
  }
  assert.ok(!open.filter((d) => d.turns.length === 1).some(hasPersonaEvidence));
});
