// The organism's word-level tokenizer files: load with ChatTokenizer, encode→decode round-trips every corpus text,
// no <unk>, the ChatML template of the reference tokenizer, and prompt ids are a prefix of the full chat. No tensor axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatTokenizer } from '../../src/model/tokenizer.ts';
import { CHAT_TEMPLATE, SPECIAL_TOKENS, organismWords, writeTokenizerFiles } from '../../src/data/organism/tokenizer-files.ts';
import { generatePostTrainSet, generatePretrainCorpus } from '../../src/data/organism/corpus.ts';
import { buildOrganismDatasets, type ChatLine } from '../../src/data/organism/datasets.ts';
import { grammarIndex } from '../../src/data/organism/grammar.ts';
import { REF_DIR } from '../helpers.ts';
import { ORGANISM_DIR } from '../../src/cli/paths.ts';
import { hasPersonaEvidence, tokenizeAfterEvidence } from '../../src/organism/build.ts';
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
      prompted++;
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
