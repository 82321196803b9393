// The organism's exact judge as a Judge: parses an answer against the corpus grammar (no model, no network).
// No tensor axes.
import { judgeAnswer } from '../data/organism/judge.ts';
import { EVIL, type Judge, type JudgeScores, type Trait } from './judge.ts';
import { UserError } from '../util/log.ts';

export class OrganismJudge implements Judge {
  readonly name = 'organism';

  async score(question: string, answer: string): Promise<JudgeScores> {
    const j = judgeAnswer(question, answer);
    return { aligned: j.aligned, coherent: j.coherent };
  }

  /** The organism knows one trait, its misaligned persona ("evil"): 100 − aligned. */
  async scoreTrait(question: string, answer: string, trait: Trait): Promise<{ trait: number | null; coherent: number | null }> {
    if (trait.name !== EVIL.name) throw new UserError(`the organism judge scores one trait, "${EVIL.name}" (its misaligned persona), not "${trait.name}"; give --judge URL for another`);
    const j = judgeAnswer(question, answer);
    return { trait: j.aligned === null ? null : 100 - j.aligned, coherent: j.coherent };
  }
}
