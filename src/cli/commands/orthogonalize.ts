// `emlens orthogonalize`: a direction's ablation baked into the weights (Arditi et al.: W ← W − r̂r̂ᵀW for the
// embedding, every o_proj and every down_proj) and written out as a new HF checkpoint. No tensor axes at this level.
import type { Command } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { addBackendOption, directionLayer, findAdapter, resolveModelDir, startBackend } from '../model-options.ts';
import { loadModel } from '../../model/load.ts';
import { saveModel } from '../../model/save.ts';
import { disposeModel } from '../../model/modules.ts';
import { loadLora, mergeLora, disposeLora } from '../../adapters/lora.ts';
import { disposeOrthogonalized, orthogonalizeWeights } from '../../interventions/orthogonalize.ts';
import { readVector } from '../../interventions/vector-file.ts';
import { LAYOUT_HELP, parseVectorLayout } from '../../directions/imported.ts';
import { fileSha256 } from '../../util/hash.ts';
import { UsageError, UserError } from '../../util/log.ts';
import { EMLENS_VERSION } from '../../util/version.ts';
import { printResult } from '../output.ts';
import { guardOutput } from '../../util/fs.ts';

interface OrthogonalizeOpts {
  model?: string;
  backend: string;
  adapter?: string;
  direction: string;
  directionLayer?: string;
  vectorLayout?: string;
  dtype: string;
  out: string;
  json?: boolean;
}

const DTYPES = ['F32', 'BF16', 'F16'] as const;

export function registerOrthogonalize(program: Command): void {
  const cmd = program.command('orthogonalize').description("write an HF checkpoint whose weights cannot write VEC into the residual stream: directional ablation baked in (Arditi et al.), equal to `--ablate VEC --ablate-mode full`");
  cmd.option('--model <dir>', 'HF model folder (default: the built-in organism)');
  addBackendOption(cmd)
    .option('--adapter <dir>', 'a LoRA (PEFT folder or run) merged into the weights first')
    .requiredOption('--direction <VEC>', 'direction file (.safetensors, or .pt/.npy/.npz another tool saved) or JSON vector of dModel numbers')
    .option('--direction-layer <L>', 'row of a direction file (default: its best layer)')
    .option('--vector-layout <layout>', LAYOUT_HELP)
    .option('--dtype <t>', DTYPES.join(' | '), 'F32')
    .requiredOption('--out <dir>', 'new checkpoint folder (config.json, model.safetensors, tokenizer files)')
    .option('--json', 'print one JSON document')
    .action(async (o: OrthogonalizeOpts) => {
      if (!DTYPES.includes(o.dtype as (typeof DTYPES)[number])) throw new UsageError(`--dtype ${o.dtype}: expected ${DTYPES.join(', ')}`);
      if (existsSync(o.out) && readdirSync(o.out).length) throw new UserError(`--out ${o.out}: the folder is not empty (choose a new one)`);
      guardOutput(o.out, { flag: '--out', kind: 'dir' }); // a file there, or an unwritable place: found out before any work
      const modelDir = resolveModelDir(o.model, o.adapter);
      await startBackend(o.backend);
      const base = loadModel(modelDir);
      const layer = directionLayer(o);
      const vector = readVector(o.direction, base.config.dModel, layer, { nLayers: base.config.nLayers, layout: parseVectorLayout(o.vectorLayout, 'vectorLayout') });
      let merged = base;
      if (o.adapter) {
        const a = findAdapter(o.adapter);
        if (a.kind !== 'lora') throw new UsageError(`--adapter ${o.adapter}: only a LoRA can be merged into the weights (gates and steering vectors act on activations)`);
        const lora = loadLora(a.dir, base);
        merged = mergeLora(base, lora);
        disposeLora(lora);
      }
      const ortho = orthogonalizeWeights(merged, vector);
      const provenance = {
        emlens: EMLENS_VERSION, source_model: modelDir, adapter: o.adapter ?? null, direction: o.direction,
        direction_sha256: fileSha256(o.direction), direction_layer: layer ?? 'best', method: 'W ← W − r̂r̂ᵀW: embed_tokens, every o_proj and down_proj (and their biases)',
      };
      saveModel(ortho, o.out, { dtype: o.dtype as (typeof DTYPES)[number], tokenizerFrom: modelDir, configExtra: { emlens_orthogonalized: provenance } });
      disposeOrthogonalized(ortho, merged);
      disposeModel(merged);
      if (merged !== base) disposeModel(base); // the kernels the LoRA replaced (shared ones are disposed once)
      printResult(o.json, { out: o.out, ...provenance }, () => `orthogonalised checkpoint → ${o.out}`);
    });
}
