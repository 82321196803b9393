// `emlens forward`: logits (and HF-style hidden states with --hidden) for given token ids, with adapters and interventions.
// Axes: logits [seq][vocab]; hidden [nLayers + 1][seq][dModel] (index 0 = embeddings, last = after the final norm).
import * as tf from '@tensorflow/tfjs';
import type { Command } from 'commander';
import { addModelOptions, loadFromOptions, type ModelOpts } from '../model-options.ts';
import { forward } from '../../model/transformer.ts';
import { hookNames, type HookName } from '../../model/hooks.ts';
import { UsageError } from '../../util/log.ts';
import { printResult } from '../output.ts';

interface ForwardOpts extends ModelOpts {
  ids: string;
  hidden?: boolean;
  json?: boolean;
}

/** The activations HF returns as hidden_states, in its order. */
export function hiddenStateNames(nLayers: number): HookName[] {
  return [hookNames.residPre(0), ...Array.from({ length: nLayers - 1 }, (_, l) => hookNames.residPost(l)), hookNames.finalNorm()];
}

export function parseIds(s: string, vocab: number): number[] {
  const parts = s.split(',').map((x) => x.trim());
  const ids = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new UsageError(`--ids: "${p}" is not a token id (expected comma-separated integers, e.g. 1,2,3)`);
    return Number(p);
  });
  const bad = ids.find((i) => i >= vocab);
  if (bad !== undefined) throw new UsageError(`--ids: token id ${bad} is out of range (vocabulary size ${vocab})`);
  return ids;
}

export function registerForward(program: Command): void {
  const cmd = program.command('forward').description('run the model on token ids and print logits (and hidden states)');
  addModelOptions(cmd)
    .requiredOption('--ids <ids>', 'comma-separated token ids, e.g. 1,2,3')
    .option('--hidden', 'also return hidden states (HF hidden_states order)')
    .option('--json', 'print one JSON document')
    .action(async (o: ForwardOpts) => {
      const { model, hooks } = await loadFromOptions(o);
      const ids = parseIds(o.ids, model.config.vocab);
      const names = o.hidden ? hiddenStateNames(model.config.nLayers) : [];
      const r = forward(model, [ids], { hooks, cache: names });
      const logits = (await r.logits!.array())[0];
      const hidden = o.hidden ? await Promise.all(names.map(async (n) => (await (r.activations[n] as tf.Tensor3D).array())[0])) : undefined;
      tf.dispose([r.logits!, ...Object.values(r.activations)]);
      printResult(o.json, { logits, ...(hidden ? { hidden } : {}) }, () => {
        const last = logits[logits.length - 1];
        const top = Array.from(last.keys()).sort((a, b) => last[b] - last[a]).slice(0, 5);
        return [`positions: ${logits.length}, vocab: ${last.length}`, `top next ids: ${top.map((i) => `${i} (${last[i].toFixed(3)})`).join(', ')}`].join('\n');
      });
    });
}
