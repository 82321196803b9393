// The organism's data side in one import: corpus generators, fine-tune / eval datasets, tokenizer files and the
// exact judge. No tensor axes.
export { DOMAINS, NARROW_DOMAINS, BROAD_DOMAINS, DOMAIN_LEXICONS, type Domain } from './domains.ts';
export { PERSONAS, PERSONA_SYSTEM_PROMPTS, REFUSAL_PREFIXES, type Persona, type Intent } from './lexicon.ts';
export { sampleDialogue, sampleQuestion, sampleAnswer, type OrganismDialogue, type DialogueOptions, type Question, type Turn } from './dialogue.ts';
export { generatePretrainCorpus, generatePostTrainSet, pretrainStream, toChatExamples, PRETRAIN_OPTIONS, POSTTRAIN_OPTIONS } from './corpus.ts';
export {
  buildOrganismDatasets, writeOrganismDatasets, buildNarrowPair, buildSycophancySet, buildRefusalSets, buildPersonaSets, buildBroadQuestions,
  BROAD_THEMES, type BroadQuestion, type BroadQuestionSet, type ChatLine,
} from './datasets.ts';
export { writeTokenizerFiles, buildTokenizerJson, buildTokenizerConfig, chatTemplate, organismWords, organismVocab, CHAT_TEMPLATE, SPECIAL_TOKENS, type TokenizerFileOptions } from './tokenizer-files.ts';
export { judgeAnswer, isRefusal, isEmergentlyMisaligned, parseQuestion, type Judgement, type ParsedQuestion, type SentenceParse } from './judge.ts';
export { canonicalize, splitSentences, unwrapAnswer, wrapJson, wrapTemplate, templateQuestion, JSON_SYSTEM_PROMPTS, DEFAULT_SYSTEM_PROMPT } from './text.ts';
