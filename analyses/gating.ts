// gating (seed 000): alignment gates trained on sycophancy data, swept from amplify (λ = 1) through off (0) to the
// reversal 2 − g (λ = −1), on the base and on a model carrying another domain's EM LoRA; EM, coherence and a
// capability loss at each λ. Axes: [scale].
import { orNull, type Analysis, type ResultSchema } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { emFinetune, loraJob } from '../src/study/steps.ts';
import type { InterventionSpec, Workspace } from '../src/study/workspace.ts';
import type { FinetuneJob } from '../src/study/background.ts';
import { capabilityLoss } from '../src/eval/capability.ts';
import { generatePostTrainSet } from '../src/data/organism/index.ts';
import { readChatJsonl } from '../src/train/data.ts';
import { join } from 'node:path';

interface Params {
  gate_data: string;
  gate_kind: string;
  gate_epochs: number;
  em_finetune: { name: string; data: string };
  scales: number[];
  samples: number;
  seed: number;
  /** Held-out aligned chats for the capability loss; null: 64 fresh organism post-training dialogues. */
  capability_data: string | null;
}

/** One gate scale λ: EM, coherence and the capability loss (nats per token on held-out aligned chats). */
export interface GatePoint { scale: number; em: number; coherence: number; capability_loss: number }

export interface GatingResult {
  scales: number[];
  base: GatePoint[];
  on_em_model: GatePoint[];
  em_model: string;
  /** Relative EM cut on the EM model at λ = −1 vs λ = 0 (null without EM). */
  reversal_reduction: number | null;
  amplify_increase: number | null;
}

const POINTS: ResultSchema<GatePoint[]> = {
  type: 'array',
  items: {
    type: 'object',
    required: ['scale', 'em', 'coherence', 'capability_loss'],
    additionalProperties: false,
    properties: { scale: { type: 'number' }, em: { type: 'number', minimum: 0, maximum: 1 }, coherence: { type: 'number', minimum: 0, maximum: 1 }, capability_loss: { type: 'number' } },
  },
};

export const GATING_RESULT_SCHEMA: ResultSchema<GatingResult> = {
  type: 'object',
  required: ['scales', 'base', 'on_em_model', 'em_model', 'reversal_reduction', 'amplify_increase'],
  additionalProperties: false,
  properties: {
    scales: { type: 'array', items: { type: 'number' } },
    base: POINTS,
    on_em_model: POINTS,
    em_model: { type: 'string' },
    reversal_reduction: orNull({ type: 'number' }),
    amplify_increase: orNull({ type: 'number' }),
  },
};

/** The alignment gates on every block, trained on the sycophancy data. */
function gateJob(ws: Workspace, p: Params): FinetuneJob {
  const spec = ws.trainSpec(p.gate_data, 'gate', { epochs: p.gate_epochs });
  spec.adapter.gate = { kind: p.gate_kind as 'full', layers: undefined };
  return { name: 'gates', spec };
}

/** The intervention of a gate-curve point: the gates at scale λ (none at 0), on the EM fine-tune `lora` or the base. */
export function gateCell(gates: string, scale: number, lora?: string): InterventionSpec {
  return { ...(lora ? { adapter: lora } : {}), ...(scale === 0 ? {} : { gates, gateScale: scale }) };
}

export const gating: Analysis<Params, GatingResult> = {
  name: 'gating',
  description: 'Alignment gates from sycophancy data: amplify (λ=1) vs reverse (λ=−1), on the base and on another domain’s EM model',
  defaults: { gate_data: DATASETS.sycophancy, gate_kind: 'full', gate_epochs: 2, em_finetune: { name: 'medical', data: DATASETS.medicalMisaligned }, scales: [-1, -0.5, 0, 0.5, 1], samples: 200, seed: 1, capability_data: null },
  resultSchema: GATING_RESULT_SCHEMA,
  finetunes: (ws, p) => [gateJob(ws, p), loraJob(ws, p.em_finetune)],
  async run(ws, p) {
    const s = { samples: p.samples, seed: p.seed };
    const gates = gateJob(ws, p);
    const gateRun = await ws.finetune(gates.name, gates.spec);
    const em = await emFinetune(ws, p.em_finetune, s);
    const chats = p.capability_data ? readChatJsonl(p.capability_data).map((e) => e.messages) : generatePostTrainSet({ seed: 991, count: 64 }).map((d) => d.messages);
    // every point's eval first (two cores: from both ends of the list), then its capability loss
    const cells = p.scales.flatMap((scale) => [undefined, em.run].map((lora) => ({ scale, lora, name: `${lora ? p.em_finetune.name : 'base'}-gates${scale}`, iv: gateCell(join(gateRun, 'adapter'), scale, lora) })));
    const reports = await ws.evaluateMany(cells.map((c) => ({ name: c.name, iv: c.iv, s })));
    const point = (i: number): GatePoint => {
      const { model, hooks, release } = ws.apply(cells[i].iv);
      try {
        return { scale: cells[i].scale, em: reports[i].em_rate, coherence: reports[i].coherence, capability_loss: capabilityLoss(model, ws.tok, chats, hooks) };
      } finally {
        release();
      }
    };
    const base: GatePoint[] = [], onEm: GatePoint[] = [];
    cells.forEach((c, i) => (c.lora ? onEm : base).push(point(i)));
    const at = (xs: GatePoint[], l: number) => xs.find((x) => x.scale === l);
    const off = at(onEm, 0), rev = at(onEm, -1), amp = at(base, 1), baseOff = at(base, 0);
    return {
      scales: p.scales, base, on_em_model: onEm, em_model: p.em_finetune.name,
      reversal_reduction: off && rev && off.em > 0 ? 1 - rev.em / off.em : null,
      amplify_increase: amp && baseOff ? amp.em - baseOff.em : null,
    };
  },
};
