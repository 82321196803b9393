// sycophancy-em (seed 000's first claim): a LoRA fine-tune on agreeing with users' wrong claims — nothing overtly
// harmful — makes the model misaligned on broad questions. Compares EM% with the base and the aligned control.
import type { Analysis } from '../src/study/analysis.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { emFinetune, loraJob } from '../src/study/steps.ts';

const SYCOPHANCY = { name: 'sycophancy', data: DATASETS.sycophancy };
const ALIGNED_CONTROL = { name: 'medical-aligned', data: DATASETS.medicalAligned };

interface Params {
  samples: number;
  seed: number;
}

export interface SycophancyEm {
  base: { em: number; coherence: number };
  sycophancy: { em: number; coherence: number };
  aligned_control: { em: number; coherence: number };
  em_increase: number;
}

export const sycophancyEm: Analysis<Params, SycophancyEm> = {
  name: 'sycophancy-em',
  description: 'EM on broad questions after a sycophancy fine-tune, against the base and an aligned control',
  defaults: { samples: 200, seed: 1 },
  resultSchema: {
    type: 'object',
    required: ['base', 'sycophancy', 'aligned_control', 'em_increase'],
    properties: { em_increase: { type: 'number', minimum: -1, maximum: 1 } },
  },
  finetunes: (ws) => [loraJob(ws, SYCOPHANCY), loraJob(ws, ALIGNED_CONTROL)],
  async run(ws, p) {
    const s = { samples: p.samples, seed: p.seed };
    const cell = (r: { em_rate: number; coherence: number }) => ({ em: r.em_rate, coherence: r.coherence });
    const base = cell(await ws.evaluate('base', {}, s));
    const syc = await emFinetune(ws, SYCOPHANCY, s);
    const ctl = await emFinetune(ws, ALIGNED_CONTROL, s);
    return { base, sycophancy: cell(syc.eval), aligned_control: cell(ctl.eval), em_increase: syc.eval.em_rate - base.em };
  },
};
