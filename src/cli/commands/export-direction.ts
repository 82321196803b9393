// `emlens export-direction`: a direction file written for other tools: a llama.cpp / ollama control vector (GGUF),
// a NumPy .npy, or a plain safetensors for torch. No tensor axes at this level.
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Direction } from '../../directions/direction.ts';
import { EXPORT_FORMATS, LLAMA_CPP_NUMBERING, exportDirection, type ExportFormat } from '../../directions/export.ts';
import { LAYOUT_HELP, parseVectorLayout } from '../../directions/imported.ts';
import { resolveLocalOrHub } from '../../model/hub-cache.ts';
import { guardOutput } from '../../util/fs.ts';
import { UsageError } from '../../util/log.ts';
import { printResult } from '../output.ts';
import { parseInteger, parseNumber } from '../parse.ts';

interface ExportOpts {
  format: string;
  out: string;
  modelHint?: string;
  layers?: string;
  scale?: string;
  layout?: string;
  vectorLayout?: string;
  json?: boolean;
}

export function registerExportDirection(program: Command): void {
  program
    .command('export-direction')
    .description('write a direction for other tools: a llama.cpp / ollama control vector (GGUF), a NumPy .npy, or a safetensors torch loads')
    .argument('<direction>', 'a direction file (emlens .safetensors, or a .pt/.pth/.npy/.npz/.safetensors another tool saved)')
    .requiredOption('--format <f>', `${EXPORT_FORMATS.join(' | ')}`)
    .requiredOption('--out <file>', 'file to write (.gguf, .npy or .safetensors)')
    .option('--model-hint <name>', 'gguf: controlvector.model_hint, the architecture it is for (default: model_type of the model the direction records, e.g. qwen2, llama)')
    .option('--layers <list>', "gguf: only these rows of the direction (e.g. 12 or 10,11,12; `best`: its best layer); default every row llama.cpp can take")
    .option('--scale <s>', 'multiply the vectors by s (llama.cpp can also scale at load: --control-vector-scaled FILE S)', '1')
    .option('--layout <layout>', 'npy / safetensors rows: blocks ([layers, d], row l = block l) or hidden_states ([layers + 1, d], HF hidden_states order as persona_vectors saves; the missing slot is zeros)', 'blocks')
    .option('--vector-layout <layout>', `reading a [R, d] file from another tool: ${LAYOUT_HELP}`)
    .option('--json', 'print one JSON document')
    .addHelpText('after', `\nControl-vector layer numbering: ${LLAMA_CPP_NUMBERING}.\nUse: llama-cli -m MODEL.gguf --control-vector OUT.gguf (or --control-vector-scaled OUT.gguf 4; --control-vector-layer-range A B).`)
    .action((file: string, o: ExportOpts) => {
      if (!(EXPORT_FORMATS as readonly string[]).includes(o.format)) throw new UsageError(`--format ${o.format}: expected ${EXPORT_FORMATS.join(', ')}`);
      const format = o.format as ExportFormat;
      const layout = parseVectorLayout(o.layout, 'layout') ?? 'blocks';
      const scale = parseNumber(o.scale ?? '1', '--scale', (x) => x !== 0, 'a non-zero number');
      const ext = { 'gguf-control-vector': '.gguf', npy: '.npy', 'pt-compatible-safetensors': '.safetensors' }[format];
      if (!o.out.endsWith(ext)) throw new UsageError(`--out ${o.out}: a ${format} file ends in ${ext}`);
      if (format !== 'gguf-control-vector' && (o.modelHint || o.layers)) throw new UsageError(`--model-hint and --layers apply to --format gguf-control-vector`);
      if (format === 'gguf-control-vector' && o.layout !== 'blocks') throw new UsageError('--layout applies to --format npy and pt-compatible-safetensors');
      guardOutput(o.out, { flag: '--out', kind: 'file' });
      const d = Direction.load(file, { layout: parseVectorLayout(o.vectorLayout, 'vectorLayout') });
      const rows = o.layers === undefined ? undefined
        : o.layers === 'best' ? [d.provenance.best_layer ?? failNoBest(file)]
        : o.layers.split(',').map((s) => parseInteger(s, '--layers'));
      const modelHint = format === 'gguf-control-vector' ? o.modelHint ?? modelTypeOf(d.provenance.model) ?? failNoHint(file) : undefined;
      const r = exportDirection(d, format, o.out, { modelHint, rows, scale, layout });
      printResult(o.json, r, () => {
        if (format !== 'gguf-control-vector') return `${file} → ${o.out} (${format}, [${(r.shape as number[]).join(', ')}], ${r.rows})`;
        const m = r.mapping as { row: number; direction: number }[];
        const skipped = r.skipped as { row: number; why: string }[];
        return [`${file} → ${o.out} (llama.cpp control vector for ${modelHint}: ${m.length} layer${m.length === 1 ? '' : 's'})`, ...m.map((x) => `  row ${x.row} → direction.${x.direction}`), ...skipped.map((s) => `  row ${s.row} left out: ${s.why}`)].join('\n');
      });
    });
}

function failNoBest(file: string): never {
  throw new UsageError(`--layers best: ${file} records no best layer; name the rows`);
}

function failNoHint(file: string): never {
  throw new UsageError(`--model-hint: ${file} records no model whose config.json says its architecture; give --model-hint (e.g. qwen2, llama, gemma2)`);
}

/** model_type from the config.json of the model a direction records (a folder or a cached hub id), if readable. */
function modelTypeOf(model: string | undefined): string | undefined {
  if (!model) return undefined;
  try {
    const dir = resolveLocalOrHub(model, 'modelHint');
    const cfg = dir && join(dir, 'config.json');
    if (!cfg || !existsSync(cfg)) return undefined;
    const t = (JSON.parse(readFileSync(cfg, 'utf8')) as { model_type?: unknown; text_config?: { model_type?: unknown } }).model_type;
    return typeof t === 'string' && t ? t.replace(/_text$/, '') : undefined;
  } catch {
    return undefined;
  }
}
