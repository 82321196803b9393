// How far a model's own answers lie along a direction: each answer's answer-token mean at resid_post of every block,
// read with an intervention applied, projected on the direction's unit vector of that block (h·v/‖v‖).
// Axes: activations [answer][layer][dModel] → projections [answer][layer].
import type { ChatMessage } from '../model/tokenizer.ts';
import type { JudgedAnswer } from '../eval/em-eval.ts';
import { collectActivations } from '../directions/collect.ts';
import { samplesFor } from '../directions/extract.ts';
import { Direction, dot } from '../directions/direction.ts';
import type { InterventionSpec, Workspace } from './workspace.ts';

/** [answer][layer] h·v/‖v‖ of each answer (its question's messages, then the answer) under `iv` in `ws`. */
export function answerProjections(ws: Workspace, iv: InterventionSpec, direction: string, answers: JudgedAnswer[], label = 'project answers'): number[][] {
  const units = Direction.load(direction).normalize().vectors; // [nLayers][dModel]
  const chats: ChatMessage[][] = answers.map((a) => [...(a.messages ?? [{ role: 'user', content: a.question }]), { role: 'assistant', content: a.text }]);
  const { model, hooks, release } = ws.apply(iv);
  let c;
  try {
    c = collectActivations(model, samplesFor(ws.tok, chats, 'answer-mean', 'answers'), { site: 'resid_post', hooks, keepExamples: true, label });
  } finally {
    release();
  }
  return answers.map((_, i) => units.map((u, l) => dot(c.examples![l][0][i], u)));
}

/** The mean over answers of their projection at block `layer` (null without answers). */
export function meanProjection(projections: number[][], layer: number): number | null {
  return projections.length ? projections.reduce((s, p) => s + p[layer], 0) / projections.length : null;
}
