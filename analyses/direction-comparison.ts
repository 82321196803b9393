// direction-comparison: cosine by layer between the EM directions of different narrow fine-tunes, the refusal and
// persona directions, each fine-tune's LoRA-B vector and a random baseline of equal norm. Axes: [nLayers] per pair.
import { orNull, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import { Direction } from '../src/directions/direction.ts';
import { randomDirectionLike } from '../src/directions/aggregators.ts';
import { cosineTable, type CosineTable } from '../src/directions/compare.ts';
import { loraBDirections, signedToward } from '../src/directions/adapter-directions.ts';
import { loadLora, disposeLora } from '../src/adapters/lora.ts';
import { NARROW_FINETUNES } from '../src/study/datasets.ts';
import { emFinetune, loraJob, personaDirection, refusalDirection } from '../src/study/steps.ts';
import { join } from 'node:path';
import type { Workspace } from '../src/study/workspace.ts';
import type { JudgedAnswer } from '../src/eval/em-eval.ts';
import { answerProjections } from '../src/study/projection.ts';

interface Params {
  finetunes: { name: string; data: string }[];
  samples: number;
  seed: number;
  include_refusal: boolean;
  include_persona: boolean;
}

export interface DirectionComparisonResult {
  directions: { name: string; kind: string; file: string | null; best_layer: number | null; norms: number[] }[];
  cosine: CosineTable;
  /** Per layer, the smallest cosine among pairs of EM directions (null with fewer than two). */
  em_min_cosine: (number | null)[];
  em_layers_above_0_8: number | null;
  /** Answers of the first fine-tune projected on its own EM direction, layer by layer (h·v/‖v‖ at resid_post, answer-token mean). */
  projection: AnswerProjection | null;
}

export interface AnswerProjection {
  direction: string;
  finetune: string;
  layers: number[];
  /** [answer]: its judge scores and its projection per layer [nLayers]. */
  answers: { aligned: number | null; coherent: number | null; em: boolean; text: string; projection: number[] }[];
}

const NUMBERS: ResultSchema<number[]> = { type: 'array', items: { type: 'number' } };
const COSINES: ResultSchema<(number | null)[]> = { type: 'array', items: orNull({ type: 'number' }) };

export const DIRECTION_COMPARISON_RESULT_SCHEMA: ResultSchema<DirectionComparisonResult> = {
  type: 'object',
  required: ['directions', 'cosine', 'em_min_cosine', 'em_layers_above_0_8', 'projection'],
  additionalProperties: false,
  properties: {
    directions: {
      type: 'array',
      minItems: 2,
      items: {
        type: 'object',
        required: ['name', 'kind', 'file', 'best_layer', 'norms'],
        additionalProperties: false,
        properties: { name: { type: 'string' }, kind: { type: 'string' }, file: orNull({ type: 'string' }), best_layer: orNull({ type: 'integer' }), norms: NUMBERS },
      },
    },
    cosine: {
      type: 'object',
      required: ['names', 'layers', 'pairs', 'matrix'],
      additionalProperties: false,
      properties: {
        names: { type: 'array', items: { type: 'string' } },
        layers: { type: 'array', items: { type: 'integer', minimum: 0 } },
        pairs: { type: 'array', items: { type: 'object', required: ['a', 'b', 'cosine'], additionalProperties: false, properties: { a: { type: 'string' }, b: { type: 'string' }, cosine: COSINES } } },
        matrix: { type: 'array', items: { type: 'array', items: COSINES } },
      },
    },
    em_min_cosine: COSINES,
    em_layers_above_0_8: orNull({ type: 'integer' }),
    projection: orNull({
      type: 'object',
      required: ['direction', 'finetune', 'layers', 'answers'],
      additionalProperties: false,
      properties: {
        direction: { type: 'string' },
        finetune: { type: 'string' },
        layers: { type: 'array', items: { type: 'integer', minimum: 0 } },
        answers: {
          type: 'array',
          items: {
            type: 'object',
            required: ['aligned', 'coherent', 'em', 'text', 'projection'],
            additionalProperties: false,
            properties: { aligned: orNull({ type: 'number' }), coherent: orNull({ type: 'number' }), em: { type: 'boolean' }, text: { type: 'string' }, projection: NUMBERS },
          },
        },
      },
    }),
  },
};

/** Each answer's answer-token mean at resid_post of every layer, projected on the direction's unit vector of that layer. */
function projectAnswers(ws: Workspace, run: string, file: string, finetune: string, answers: JudgedAnswer[]): AnswerProjection {
  const projections = answerProjections(ws, { adapter: run }, file, answers);
  return {
    direction: file, finetune, layers: Direction.load(file).vectors.map((_, l) => l),
    answers: answers.map((a, i) => ({ aligned: a.aligned, coherent: a.coherent, em: a.em, text: a.text, projection: projections[i] })),
  };
}

export const directionComparison: Analysis<Params, DirectionComparisonResult> = {
  name: 'direction-comparison',
  description: 'Cosine by layer between EM directions of different fine-tunes, refusal, persona, LoRA-B (signed toward its fine-tune\'s EM direction) and a random baseline',
  defaults: { finetunes: NARROW_FINETUNES, samples: 200, seed: 1, include_refusal: true, include_persona: true },
  resultSchema: DIRECTION_COMPARISON_RESULT_SCHEMA,
  finetunes: (ws, p) => p.finetunes.map((ft) => loraJob(ws, ft)),
  async run(ws, p) {
    const named: { name: string; direction: Direction; file: string | null }[] = [];
    let projection: AnswerProjection | null = null;
    for (const ft of p.finetunes) {
      const r = await emFinetune(ws, ft, { samples: p.samples, seed: p.seed });
      if (r.direction && !projection) projection = projectAnswers(ws, r.run, r.direction, ft.name, r.eval.answers.slice(0, 120));
      const em = r.direction ? Direction.load(r.direction) : undefined;
      if (em) named.push({ name: `em:${ft.name}`, direction: em, file: r.direction });
      const lora = loadLora(join(r.run, 'adapter'), ws.model);
      // B's sign is arbitrary: signed toward its own fine-tune's EM direction, so cosines across fine-tunes compare
      for (const d of loraBDirections(lora, ws.model.config.nLayers, r.run)) named.push({ name: `lora-b:${ft.name}`, direction: em ? signedToward(d, em, `em:${ft.name}`) : d, file: null });
      disposeLora(lora);
    }
    if (p.include_refusal) {
      const f = await refusalDirection(ws);
      named.push({ name: 'refusal', direction: Direction.load(f), file: f });
    }
    if (p.include_persona) {
      try {
        const f = await personaDirection(ws, p.seed);
        named.push({ name: 'persona', direction: Direction.load(f), file: f });
      } catch (e) {
        if (!/persona:/.test((e as Error).message)) throw e;
      }
    }
    const ref = named.find((n) => n.name.startsWith('em:')) ?? named[0];
    named.push({ name: 'random', direction: randomDirectionLike(ref.direction, p.seed), file: null });
    const table = cosineTable(named.map(({ name, direction }) => ({ name, direction })));
    const em = table.pairs.filter((x) => x.a.startsWith('em:') && x.b.startsWith('em:'));
    const emMin = table.layers.map((l) => (em.length ? Math.min(...em.map((x) => x.cosine[l] ?? 0)) : null));
    return {
      directions: named.map((n) => ({ name: n.name, kind: n.direction.provenance.kind, file: n.file, best_layer: n.direction.provenance.best_layer ?? null, norms: n.direction.norms() })),
      cosine: table,
      em_min_cosine: emMin,
      em_layers_above_0_8: em.length ? emMin.filter((c) => c !== null && c > 0.8).length : null,
      projection,
    };
  },
};
