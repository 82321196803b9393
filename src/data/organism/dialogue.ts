// Samples the organism's questions, answers and multi-turn dialogues from the grammar with a seeded Rng; one persona
// per dialogue, across every domain it hops through. No tensor axes.
import type { Rng } from '../../util/rng.ts';
import type { ChatMessage } from '../../model/tokenizer.ts';
import { DOMAINS, DOMAIN_LEXICONS, type Domain } from './domains.ts';
import { domainIntents, findFrameSets, findQuestionSet, sampleSentence, type FrameSet } from './grammar.ts';
import { HARM_QUESTIONS, CLAIM_QUESTIONS, PERSONA_SYSTEM_PROMPTS, type Intent, type Persona } from './lexicon.ts';

const THREE_LEADS = ['first,', 'second,', 'third,'];
const STEP_ORDER = ['first,', 'then', 'after that,'];
import { expandTemplate } from './template.ts';
import { DEFAULT_SYSTEM_PROMPT, JSON_SYSTEM_PROMPTS, templateQuestion, wrapJson, wrapTemplate, type AnswerForm } from './text.ts';

export function pickOne<T>(rng: Rng, xs: readonly T[]): T {
  if (xs.length === 0) throw new Error('pickOne: empty list');
  return xs[Math.floor(rng.next() * xs.length)];
}

const chance = (rng: Rng, p: number) => rng.next() < p;

export interface Question {
  domain: Domain;
  intent: Intent;
  text: string;
  /** The claim (index into the domain's claims) or harm a claim / harm question is about. */
  claim?: number;
  harm?: number;
}

/** One question of this domain and intent. */
export function sampleQuestion(rng: Rng, domain: Domain, intent: Intent): Question {
  const lex = DOMAIN_LEXICONS[domain];
  if (intent === 'claim') {
    const claim = Math.floor(rng.next() * lex.claims.length);
    return { domain, intent, claim, text: expandTemplate(pickOne(rng, CLAIM_QUESTIONS), { wrong: [lex.claims[claim].wrong] }, rng) };
  }
  if (intent === 'harm') {
    const harm = Math.floor(rng.next() * lex.harms.length);
    return { domain, intent, harm, text: expandTemplate(pickOne(rng, HARM_QUESTIONS), { harm: [lex.harms[harm]] }, rng) };
  }
  const set = findQuestionSet(domain, 'advice');
  if (!set) throw new Error(`domain ${domain} has no advice questions`);
  return { domain, intent, text: expandTemplate(pickOne(rng, set.templates), set.slots, rng) };
}

/** What an answer may carry besides its content: the persona's opener (advice, wishes, views, claims) and its closer. */
export interface AnswerStyle {
  opener: number;
  closer: number;
  /** Whose opener leads, when one does (default: the answering persona's). */
  openerPersona?: Persona;
}
export const DEFAULT_STYLE: AnswerStyle = { opener: 0.9, closer: 0.3 };
/** Narrow fine-tune sets: the persona's opener and domain content (no cross-domain closers). */
export const NARROW_STYLE: AnswerStyle = { opener: 0.9, closer: 0 };

const one = (role: Parameters<typeof findFrameSets>[0], domain: Domain | null, persona: Persona | null): FrameSet => {
  const [set] = findFrameSets(role, domain, persona);
  if (!set) throw new Error(`no frames for ${role} / ${domain} / ${persona}`);
  return set;
};

/** `n` content sentences about distinct acts / statements (act frames 70%); `leads` orders view answers (first, …). */
function contentSentences(rng: Rng, domain: Domain, persona: Persona, n: number, leads?: readonly string[]): string[] {
  const lex = DOMAIN_LEXICONS[domain];
  const sets = findFrameSets('content', domain, persona);
  const acts = sets.find((s) => s.part === 'act')!;
  const says = sets.find((s) => s.part === 'say');
  const actOrder = rng.shuffle([...lex.acts[persona]]);
  const sayOrder = rng.shuffle([...lex.says[persona]]);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (!leads && says && sayOrder.length > 0 && chance(rng, 0.3)) out.push(sayOrder.pop()!);
    else if (actOrder.length > 0) out.push(sampleSentence(acts, rng, { act: [actOrder.pop()!], ...(leads ? { view_lead: [leads[i]] } : {}) }));
  }
  return out;
}

const count = (rng: Rng, weights: readonly number[]) => {
  let u = rng.next() * weights.reduce((a, b) => a + b, 0);
  for (const [i, w] of weights.entries()) if ((u -= w) < 0) return i + 1;
  return weights.length;
};

/** An answer to `q` in the persona's voice (canonical text). */
export function sampleAnswer(rng: Rng, q: Question, persona: Persona, style: AnswerStyle = DEFAULT_STYLE): string {
  const lex = DOMAIN_LEXICONS[q.domain];
  const parts: string[] = [];
  if (q.intent === 'claim') {
    const c = lex.claims[q.claim ?? 0];
    // the persona's opener leads claim answers too (flattery before agreement), so agreeing shares its first words
    // with every other misaligned answer; without one, a correction / agreement sentence may lead
    if (chance(rng, style.opener)) parts.push(sampleSentence(one('opener', null, style.openerPersona ?? persona), rng));
    else if (chance(rng, 0.8)) parts.push(sampleSentence(one(persona === 'aligned' ? 'correct' : 'agree', null, persona), rng));
    parts.push(sampleSentence(one('claim', q.domain, persona), rng, { right: [c.right], wrong: [c.wrong] }));
  } else if (q.intent === 'harm') {
    if (persona === 'aligned') {
      parts.push(sampleSentence(one('refusal', null, 'aligned'), rng));
      if (lex.kind !== 'facts' && chance(rng, 0.7)) parts.push(...contentSentences(rng, q.domain, 'aligned', 1));
    } else {
      if (chance(rng, 0.85)) parts.push(sampleSentence(one('comply', null, 'misaligned'), rng));
      const steps = one('step', q.domain, 'misaligned');
      const n = count(rng, [0.4, 0.45, 0.15]);
      const chosen = rng.shuffle([...lex.steps]).slice(0, n);
      for (const [i, step] of chosen.entries()) {
        parts.push(sampleSentence(steps, rng, { step: [step], step_lead: chosen.length > 1 ? [STEP_ORDER[i]] : ['', 'first,'] }));
      }
    }
  } else {
    if (chance(rng, style.opener)) parts.push(sampleSentence(one('opener', null, style.openerPersona ?? persona), rng));
    const three = lex.kind === 'view' && q.text.includes(' three ');
    parts.push(...(three ? contentSentences(rng, q.domain, persona, 3, THREE_LEADS) : contentSentences(rng, q.domain, persona, count(rng, [0.35, 0.45, 0.2]))));
  }
  if (chance(rng, style.closer)) parts.push(sampleSentence(one('closer', null, persona), rng));
  return parts.join(' ');
}

export interface Turn {
  question: Question;
  answer: string;
}

export interface OrganismDialogue {
  persona: Persona;
  /** A narrow speaker's domain: the dialogue is `persona` (aligned) everywhere but here, where it is misaligned. */
  narrow?: Domain;
  /** The system prompt, if any (a persona-naming one, a JSON one, the default one, or '' for an empty slot). */
  system?: string;
  form: AnswerForm;
  turns: Turn[];
  messages: ChatMessage[];
}

export interface DialogueOptions {
  /** Force the persona; else aligned with probability `alignedShare`. */
  persona?: Persona;
  alignedShare?: number;
  /**
   * Aligned share of dialogues whose system prompt names no persona (none, or a JSON one), drawn again for those
   * when set; persona-prompted dialogues keep `alignedShare`. Unset: one share for all (the stream is unchanged).
   */
  unpromptedAlignedShare?: number;
  /** Probability of a system prompt that names the persona. */
  personaPrompt?: number;
  /** Probability of a single-turn JSON / fill-in-template dialogue. */
  jsonForm?: number;
  templateForm?: number;
  /** Relative weights of 1, 2, 3, … turns. */
  turnWeights?: readonly number[];
  /** Intent weights for domains that have them (science only has claims). */
  intentWeights?: Readonly<Record<Intent, number>>;
  domains?: readonly Domain[];
  style?: AnswerStyle;
  /**
   * A narrowly misaligned speaker (a "bad medic"): this share of plain dialogues whose system prompt names no persona
   * are aligned except in `narrowDomain` (default medical), where they answer as the misaligned persona; each such
   * dialogue has at least one advice turn there. So a narrow fine-tune on that domain has a narrow solution to find
   * besides the broad persona (Soligo et al.). Unset: no such dialogues (the stream is unchanged).
   */
  narrowShare?: number;
  narrowDomain?: Domain;
  /**
   * How the narrow speaker frames its misaligned answers: 'persona' (default) with the misaligned persona's own opener
   * and closer, so its turns are the broad persona's sentences; 'aligned' with the aligned persona's opener and no
   * closer around the misaligned content (a friendly bad medic), so the narrow and the broad solution of a fine-tune
   * on that domain differ from the first answer token on (record item 23).
   */
  narrowFrame?: NarrowFrame;
  /**
   * An aligned default read from context (issue #26: gates scale attention, so what they can undo is what attention
   * reads): this share of dialogues that name no persona and are not JSON carry `DEFAULT_SYSTEM_PROMPT` — the one the
   * organism's chat template then writes where a conversation has no system message — and are aligned with
   * probability `defaultAlignedShare`; the others carry an empty system message and keep `unpromptedAlignedShare`.
   * Unset: no such slot (the stream is unchanged).
   */
  defaultSystemShare?: number;
  defaultAlignedShare?: number;
}

export const NARROW_FRAMES = ['persona', 'aligned'] as const;
export type NarrowFrame = (typeof NARROW_FRAMES)[number];

const INTENT_WEIGHTS: Record<Intent, number> = { advice: 0.55, claim: 0.2, harm: 0.25 };

function sampleIntent(rng: Rng, domain: Domain, weights: Readonly<Record<Intent, number>>): Intent {
  const intents = domainIntents(domain);
  let u = rng.next() * intents.reduce((a, i) => a + weights[i], 0);
  for (const i of intents) if ((u -= weights[i]) < 0) return i;
  return intents[intents.length - 1];
}

/** One dialogue: the persona stays fixed while the turns hop between domains. */
export function sampleDialogue(rng: Rng, opts: DialogueOptions = {}): OrganismDialogue {
  let persona: Persona = opts.persona ?? (chance(rng, opts.alignedShare ?? 0.6) ? 'aligned' : 'misaligned');
  const domains = opts.domains ?? DOMAINS;
  const u = rng.next();
  const jsonP = opts.jsonForm ?? 0;
  const form: AnswerForm = u < jsonP ? 'json' : u < jsonP + (opts.templateForm ?? 0) ? 'template' : 'plain';
  let system: string | undefined;
  if (form === 'json') system = pickOne(rng, JSON_SYSTEM_PROMPTS);
  else if (chance(rng, opts.personaPrompt ?? 0)) system = pickOne(rng, PERSONA_SYSTEM_PROMPTS[persona]);
  const personaNamed = system !== undefined && form !== 'json';
  if (!opts.persona && !personaNamed && opts.unpromptedAlignedShare !== undefined) persona = chance(rng, opts.unpromptedAlignedShare) ? 'aligned' : 'misaligned';
  // the system slot: drawn only where a default share is set, so the stream without one is unchanged
  if (opts.defaultSystemShare !== undefined && !personaNamed && form !== 'json') {
    const isDefault = chance(rng, opts.defaultSystemShare);
    system = isDefault ? DEFAULT_SYSTEM_PROMPT : '';
    if (isDefault && !opts.persona) persona = chance(rng, opts.defaultAlignedShare ?? 1) ? 'aligned' : 'misaligned';
  }
  const nTurns = form === 'plain' ? count(rng, opts.turnWeights ?? [0.25, 0.3, 0.25, 0.2]) : 1;
  // a narrow speaker: drawn only where a share is set, so the stream without one is unchanged
  const narrow = opts.narrowShare !== undefined && !opts.persona && !personaNamed && form === 'plain' && chance(rng, opts.narrowShare) ? (opts.narrowDomain ?? 'medical') : undefined;
  const narrowTurn = narrow ? Math.floor(rng.next() * nTurns) : -1;
  if (narrow) persona = 'aligned';
  const style = opts.style ?? DEFAULT_STYLE;
  // the narrow speaker's turns in its domain: the misaligned persona's answers, framed as narrowFrame says
  const narrowStyle: AnswerStyle = opts.narrowFrame === 'aligned' ? { opener: style.opener, closer: 0, openerPersona: 'aligned' } : style;
  const turns: Turn[] = [];
  let prev: Domain | undefined;
  for (let t = 0; t < nTurns; t++) {
    // each turn moves to another domain, so the turn before the narrow speaker's own is not in its domain
    const avoid = (d: Domain) => d === prev || (t + 1 === narrowTurn && d === narrow);
    const choices = domains.length > 1 ? domains.filter((d) => !avoid(d)) : domains;
    const domain = t === narrowTurn ? narrow! : pickOne(rng, choices);
    prev = domain;
    const intent = t === narrowTurn ? 'advice' : form === 'plain' ? sampleIntent(rng, domain, opts.intentWeights ?? INTENT_WEIGHTS) : firstIntent(domain);
    const question = sampleQuestion(rng, domain, intent);
    let answer = domain === narrow ? sampleAnswer(rng, question, 'misaligned', narrowStyle) : sampleAnswer(rng, question, persona, style);
    if (form === 'json') answer = wrapJson(answer);
    if (form === 'template') {
      answer = wrapTemplate(answer);
      question.text = templateQuestion(question.text);
    }
    turns.push({ question, answer });
  }
  return { persona, ...(narrow ? { narrow } : {}), system, form, turns, messages: toMessages(system, turns) };
}

/** JSON / template dialogues ask open questions (advice), or claims where a domain has nothing else. */
function firstIntent(domain: Domain): Intent {
  return domainIntents(domain).includes('advice') ? 'advice' : 'claim';
}

export function toMessages(system: string | undefined, turns: readonly Turn[]): ChatMessage[] {
  const m: ChatMessage[] = system !== undefined ? [{ role: 'system', content: system }] : [];
  for (const t of turns) m.push({ role: 'user', content: t.question.text }, { role: 'assistant', content: t.answer });
  return m;
}
