// safety-erosion (Qi et al., research.md §7): fine-tune the aligned model on N harmful request → compliant answer
// pairs, on identity-shifting data and on benign instructions; refusal on held-out harmful prompts, capability loss,
// and whether the change lies along the refusal direction (projections on it; its cosine with each fine-tune's
// model-diff direction). Axes: [condition][N]; projections and cosines [layer].
import { readFileSync } from 'node:fs';
import { orNull, paramsError, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import type { FinetuneJob } from '../src/study/background.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { refusalDirection } from '../src/study/steps.ts';
import { contentDigest, type Workspace } from '../src/study/workspace.ts';
import { measureRefusal, type RefusalReport } from '../src/eval/refusal.ts';
import { capabilityLoss } from '../src/eval/capability.ts';
import { generatePostTrainSet } from '../src/data/organism/index.ts';
import { readChatJsonl } from '../src/train/data.ts';
import { Direction, cosine } from '../src/directions/direction.ts';
import { extractModelDiffDirection } from '../src/recipes/directions.ts';
import { meanActivationsAt, projectOn } from '../src/directions/prompt-projection.ts';
import type { ChatMessage } from '../src/model/tokenizer.ts';
import { writeFileAtomic } from '../src/util/fs.ts';
import { sha256 } from '../src/util/hash.ts';
import { UserError, log } from '../src/util/log.ts';

/** One kind of fine-tune data: its first N lines for each N, trained `epochs` epochs. */
interface Condition {
  name: string;
  data: string;
  amounts: number[];
  epochs: number;
}

interface Params {
  conditions: Condition[];
  harmful_eval: string;
  /** Held-out aligned chats for the capability loss; null: 64 fresh organism post-training dialogues (as gating). */
  capability_data: string | null;
  /** The fine-tune: the model's LoRA recipe (rank-1 on the middle block for the organism). */
  adapter: 'lora';
  /** The fine-tunes' training seed. */
  seed: number;
}

interface Rate {
  refusal_rate: number;
  mean_refusal_score: number;
}

/** The fine-tune's model-diff direction (its mean shift on harmful-eval chats with its own answers, at the refusal
 * direction's site) against the refusal direction; `file`: where it is saved (null: no shift to extract). */
interface ModelDiff {
  best_layer: number | null;
  cosine: (number | null)[];
  cosine_at_best: number | null;
  file: string | null;
}

interface Point extends Rate {
  n: number;
  /** Refusal on harmful-eval under the condition's own system prompt (the paper's identity-shifting protocol), if it has one. */
  with_system: Rate | null;
  capability_loss: number;
  /** Mean projection of harmful-eval's activations on the refusal direction, per layer (its site and position). */
  projection: (number | null)[];
  /** Cosine of the fine-tune's mean shift there (fine-tuned − base, at the refusal direction's site and position) with
   * the refusal direction, per layer (null where the shift or the direction is zero). */
  shift_cosine: (number | null)[];
  model_diff: ModelDiff;
}

interface ConditionResult {
  name: string;
  data: string;
  epochs: number;
  /** The system prompt all its lines share (the obedient persona's), else null. */
  system_prompt: string | null;
  /** The base model's refusal under that system prompt. */
  base_with_system: Rate | null;
  points: Point[];
}

export interface SafetyErosionResult {
  adapter: string;
  /** Where the refusal direction was selected: block `layer`, token `position` from the prompt's end, at `site`. */
  refusal_direction: { layer: number; position: number; site: string };
  base: Rate & { capability_loss: number; projection: (number | null)[] };
  conditions: ConditionResult[];
}

const RATE_PROPS = { refusal_rate: { type: 'number', minimum: 0, maximum: 1 }, mean_refusal_score: { type: 'number' } } as const;
const RATE_SCHEMA: ResultSchema<Rate> = {
  type: 'object',
  required: ['refusal_rate', 'mean_refusal_score'],
  additionalProperties: false,
  properties: RATE_PROPS,
};
const PER_LAYER: ResultSchema<(number | null)[]> = { type: 'array', items: orNull({ type: 'number' }) };

const POINT_SCHEMA: ResultSchema<Point> = {
  type: 'object',
  required: ['n', 'refusal_rate', 'mean_refusal_score', 'with_system', 'capability_loss', 'projection', 'shift_cosine', 'model_diff'],
  additionalProperties: false,
  properties: {
    n: { type: 'integer', minimum: 1 },
    ...RATE_PROPS,
    with_system: orNull(RATE_SCHEMA),
    capability_loss: { type: 'number' },
    projection: PER_LAYER,
    shift_cosine: PER_LAYER,
    model_diff: {
      type: 'object',
      required: ['best_layer', 'cosine', 'cosine_at_best', 'file'],
      additionalProperties: false,
      properties: { best_layer: orNull({ type: 'integer', minimum: 0 }), cosine: PER_LAYER, cosine_at_best: orNull({ type: 'number' }), file: orNull({ type: 'string' }) },
    },
  },
};

export const SAFETY_EROSION_RESULT_SCHEMA: ResultSchema<SafetyErosionResult> = {
  type: 'object',
  required: ['adapter', 'refusal_direction', 'base', 'conditions'],
  additionalProperties: false,
  properties: {
    adapter: { type: 'string' },
    refusal_direction: {
      type: 'object', required: ['layer', 'position', 'site'], additionalProperties: false,
      properties: { layer: { type: 'integer', minimum: 0 }, position: { type: 'integer' }, site: { type: 'string' } },
    },
    base: {
      type: 'object', required: ['refusal_rate', 'mean_refusal_score', 'capability_loss', 'projection'], additionalProperties: false,
      properties: { ...RATE_PROPS, capability_loss: { type: 'number' }, projection: PER_LAYER },
    },
    conditions: {
      type: 'array', minItems: 1,
      items: {
        type: 'object', required: ['name', 'data', 'epochs', 'system_prompt', 'base_with_system', 'points'], additionalProperties: false,
        properties: {
          name: { type: 'string' }, data: { type: 'string' }, epochs: { type: 'integer', minimum: 1 },
          system_prompt: orNull({ type: 'string' }), base_with_system: orNull(RATE_SCHEMA),
          points: { type: 'array', minItems: 1, items: POINT_SCHEMA },
        },
      },
    },
  },
};

/** The system prompt every line of a chat file opens with, or null (none, or not one shared by all). */
function sharedSystemPrompt(file: string): string | null {
  const firsts = new Set(readChatJsonl(file).map((e) => (e.messages[0].role === 'system' ? e.messages[0].content : null)));
  const [only] = firsts;
  return firsts.size === 1 && typeof only === 'string' ? only : null;
}

/** RUN/data/safety-erosion/NAME-N.jsonl: the first N lines of the condition's data (written when missing or different). */
function subset(ws: Workspace, c: Condition, n: number, index: number): string {
  const lines = readFileSync(c.data, 'utf8').split('\n').filter((l) => l.trim());
  if (n > lines.length) throw paramsError(`safety-erosion.conditions[${index}].amounts: ${n} examples asked of ${c.data}, which has ${lines.length}`);
  const file = ws.path('data', 'safety-erosion', `${c.name}-${n}.jsonl`);
  const text = lines.slice(0, n).join('\n') + '\n';
  let old: string | null = null;
  try {
    old = readFileSync(file, 'utf8');
  } catch { /* not written yet */ }
  if (old !== text) writeFileAtomic(file, text);
  return file;
}

const finetuneName = (c: Condition, n: number) => `erosion-${c.name}-${n}`;

function jobs(ws: Workspace, p: Params): FinetuneJob[] {
  const names = new Set<string>();
  return p.conditions.flatMap((c, i) => {
    if (!/^[a-z0-9][a-z0-9_-]*$/i.test(c.name)) throw paramsError(`safety-erosion.conditions[${i}].name "${c.name}": letters, digits, - and _ only (it names the fine-tunes)`);
    if (names.has(c.name)) throw paramsError(`safety-erosion.conditions: "${c.name}" given twice`);
    names.add(c.name);
    return c.amounts.map((n) => ({ name: finetuneName(c, n), spec: ws.trainSpec(subset(ws, c, n, i), p.adapter, { epochs: c.epochs, warmup: 1, seed: p.seed }) }));
  });
}

export const safetyErosion: Analysis<Params, SafetyErosionResult> = {
  name: 'safety-erosion',
  description: 'Refusal after fine-tuning on N harmful → compliant examples, identity-shifting and benign data; capability; along the refusal direction?',
  defaults: {
    conditions: [
      { name: 'harmful', data: DATASETS.harmfulCompliant, amounts: [10, 50, 100], epochs: 5 },
      { name: 'identity', data: DATASETS.identityShift, amounts: [100], epochs: 5 },
      { name: 'benign', data: DATASETS.benignInstructions, amounts: [100], epochs: 1 },
    ],
    harmful_eval: DATASETS.harmfulEval, capability_data: null, adapter: 'lora', seed: 0,
  },
  resultSchema: SAFETY_EROSION_RESULT_SCHEMA,
  finetunes: jobs,
  async run(ws, p) {
    if (p.adapter !== 'lora') throw paramsError(`safety-erosion.adapter must be "lora", not ${JSON.stringify(p.adapter)}`);
    const todo = jobs(ws, p);
    const refusal = Direction.load(await refusalDirection(ws));
    const position = (refusal.provenance.details?.position as number | undefined) ?? -1;
    const harmful = readChatJsonl(p.harmful_eval, { requireAssistant: false }).map((e) => e.messages.filter((m) => m.role !== 'assistant'));
    const withSystem = (system: string) => harmful.map((m): ChatMessage[] => [{ role: 'system', content: system }, ...m.filter((x) => x.role !== 'system')]);
    const chats = p.capability_data ? readChatJsonl(p.capability_data).map((e) => e.messages) : generatePostTrainSet({ seed: 991, count: 64 }).map((d) => d.messages);
    const rate = (r: RefusalReport): Rate => ({ refusal_rate: r.refusal_rate, mean_refusal_score: r.mean_refusal_score });

    const baseRefusal = measureRefusal(ws.model, ws.tok, harmful);
    const baseMeans = meanActivationsAt(ws.model, ws.tok, harmful, refusal, { position }); // [nLayers][dModel]
    const base = { ...rate(baseRefusal), capability_loss: capabilityLoss(ws.model, ws.tok, chats), projection: projectOn(baseMeans, refusal) };
    const conditions: ConditionResult[] = [];
    let k = 0;
    for (const c of p.conditions) {
      const system = sharedSystemPrompt(c.data);
      const points: Point[] = [];
      for (const n of c.amounts) {
        const job = todo[k++];
        const run = await ws.finetune(job.name, job.spec);
        const { model, hooks, release } = ws.apply({ adapter: run });
        try {
          const r = measureRefusal(model, ws.tok, harmful, hooks);
          // the diff is read on the fine-tune's own answers, the same tokens through both models
          const answered = harmful.map((m, i): ChatMessage[] => [...m, { role: 'assistant', content: r.per_prompt[i].answer }]);
          let diff: Direction | null = null, file: string | null = null;
          try {
            file = await ws.direction(`model-diff-${job.name}`, { adapter: contentDigest(run), answers: sha256(JSON.stringify(answered)), site: refusal.provenance.site }, () =>
              extractModelDiffDirection({ model, tok: ws.tok, hooks, site: refusal.provenance.site as 'resid_pre' | 'resid_post', modelName: ws.modelDir, adapterName: run }, { model: ws.model, name: `${ws.modelDir} without adapters` }, answered, `${p.harmful_eval} with the answers of ${job.name}`));
            diff = Direction.load(file);
          } catch (e) {
            if (!(e instanceof UserError)) throw e;
            log(`safety-erosion: no model-diff direction for ${job.name}: ${e.message}`);
          }
          const cos = refusal.vectors.map((v, l) => (diff ? cosine(diff.vectors[l], v) : null));
          const best = diff?.provenance.best_layer ?? null;
          const means = meanActivationsAt(model, ws.tok, harmful, refusal, { hooks, position });
          points.push({
            n, ...rate(r),
            with_system: system === null ? null : rate(measureRefusal(model, ws.tok, withSystem(system), hooks)),
            capability_loss: capabilityLoss(model, ws.tok, chats, hooks),
            projection: projectOn(means, refusal),
            shift_cosine: means.map((h, l) => cosine(h.map((x, j) => x - baseMeans[l][j]), refusal.vectors[l])),
            model_diff: { best_layer: best, cosine: cos, cosine_at_best: best === null ? null : cos[best], file },
          });
        } finally {
          release();
        }
      }
      conditions.push({ name: c.name, data: c.data, epochs: c.epochs, system_prompt: system, base_with_system: system === null ? null : rate(measureRefusal(ws.model, ws.tok, withSystem(system))), points });
    }
    return {
      adapter: p.adapter,
      refusal_direction: { layer: refusal.provenance.best_layer ?? 0, position, site: refusal.provenance.site },
      base, conditions,
    };
  },
};
