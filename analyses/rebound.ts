// rebound (Ji et al., research.md §6): fine-tune on small amounts of contradictory (misaligned) data, starting from
// the base and from a model first fine-tuned on positive (aligned) data; the positive model should resist.
// Axes: [amount].
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Analysis } from '../src/study/analysis.ts';
import { Workspace } from '../src/study/workspace.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { loadLora, mergeLora, disposeLora } from '../src/adapters/lora.ts';
import { saveModel } from '../src/model/save.ts';

interface Params {
  positive_data: string;
  contradictory_data: string;
  amounts: number[];
  epochs: number;
  samples: number;
  seed: number;
}

interface Cell { em: number; coherence: number }

export interface ReboundResult {
  amounts: number[];
  base: Cell;
  positive: Cell;
  from_base: Cell[];
  from_positive: Cell[];
}

export const rebound: Analysis<Params, ReboundResult> = {
  name: 'rebound',
  description: 'EM after small amounts of contradictory data, from the base and from a positively fine-tuned model',
  defaults: { positive_data: DATASETS.medicalAligned, contradictory_data: DATASETS.medicalMisaligned, amounts: [16, 64, 256], epochs: 3, samples: 100, seed: 1 },
  resultSchema: {
    type: 'object',
    required: ['amounts', 'base', 'positive', 'from_base', 'from_positive'],
    properties: { from_base: { type: 'array', items: { type: 'object', required: ['em', 'coherence'] } } },
  },
  async run(ws, p) {
    const s = { samples: p.samples, seed: p.seed };
    const cell = (r: { em_rate: number; coherence: number }): Cell => ({ em: r.em_rate, coherence: r.coherence });
    const posRun = await ws.finetune('rebound-positive', ws.trainSpec(p.positive_data, 'lora', { epochs: p.epochs, warmup: 1 }));
    const posDir = ws.path('models', 'positive');
    if (!existsSync(join(posDir, 'model.safetensors'))) {
      const lora = loadLora(join(posRun, 'adapter'), ws.model);
      const merged = mergeLora(ws.model, lora);
      saveModel(merged, posDir, { tokenizerFrom: ws.modelDir });
      for (const m of lora.modules.values()) for (const t of merged.weights.blocks[m.layer].linears[m.module].ownTensors()) t.dispose();
      disposeLora(lora);
    }
    const wsPos = new Workspace(ws.path('from-positive'), posDir, ws.quiet);
    wsPos.judge = ws.judge;
    const lines = readFileSync(p.contradictory_data, 'utf8').split('\n').filter(Boolean);
    mkdirSync(ws.path('data'), { recursive: true });
    const fromBase: Cell[] = [], fromPositive: Cell[] = [];
    for (const k of p.amounts) {
      const data = ws.path('data', `contradictory-${k}.jsonl`);
      if (!existsSync(data)) writeFileSync(data, lines.slice(0, k).join('\n') + '\n');
      const spec = ws.trainSpec(data, 'lora', { epochs: p.epochs, warmup: 1 });
      fromBase.push(cell(await ws.evaluate(`rebound-base-${k}`, { adapter: await ws.finetune(`rebound-base-${k}`, spec) }, s)));
      fromPositive.push(cell(await wsPos.evaluate(`rebound-positive-${k}`, { adapter: await wsPos.finetune(`rebound-positive-${k}`, spec) }, s)));
    }
    return { amounts: p.amounts, base: cell(await ws.evaluate('base', {}, s)), positive: cell(await wsPos.evaluate('positive', {}, s)), from_base: fromBase, from_positive: fromPositive };
  },
};
