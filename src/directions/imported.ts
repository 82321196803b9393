// Directions saved by other tools (torch.save, NumPy, plain safetensors) mapped onto emlens's layers: one vector [d]
// (the same at every layer), per block [L, d] (row l = resid_post(l)), or hidden-state rows [L+1, d] (row 0 = the
// embedding output, row l+1 = resid_post(l): persona_vectors' layout). Axes: file rows [R][dModel] → [nLayers][dModel].
import { existsSync } from 'node:fs';
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { readTensorFile, ACCEPTED_TENSOR_FORMATS, type TensorEntry, type TensorFileFormat } from '../io/tensor-file.ts';

export type VectorLayout = 'blocks' | 'hidden_states';
export const VECTOR_LAYOUTS: VectorLayout[] = ['blocks', 'hidden_states'];

export const LAYOUT_HELP = 'rows of a [R, d] vector file from another tool: blocks (R = layers; row l = resid_post(l)) or hidden_states (R = layers + 1, HF hidden_states order, as persona_vectors saves them: row 0 = the embedding output, row l+1 = resid_post(l)); default: from R and the model\'s layers';

/** A layout's name checked; an EmlensError (exit 2) naming `param` (the CLI's vectorLayout is --vector-layout) otherwise. */
export function parseVectorLayout(s: string | undefined, param = 'layout'): VectorLayout | undefined {
  if (s === undefined) return undefined;
  if (!VECTOR_LAYOUTS.includes(s as VectorLayout)) throw new EmlensError(param, 'expected blocks or hidden_states', { value: s, exitCode: 2 });
  return s as VectorLayout;
}

export interface ImportedVectors {
  file: string;
  format: TensorFileFormat;
  /** The tensor's place in the file ("" = the whole file; "[*]" = a list of vectors stacked). */
  tensor: string;
  shape: number[];
  /** [R][d] as in the file. */
  rows: Float32Array[];
  oneVector: boolean;
}

/**
 * The one direction tensor in a file: the file's only tensor, or a list of equal-length vectors stacked, or the tensor
 * named after `#` (FILE#key, for a dict or .npz holding several). Shape [d], [1, d] or [R, d].
 */
export function readImportedVectors(spec: string): ImportedVectors {
  let file = spec, key: string | undefined;
  const hash = spec.lastIndexOf('#');
  if (!existsSync(spec) && hash > 0 && existsSync(spec.slice(0, hash))) [file, key] = [spec.slice(0, hash), spec.slice(hash + 1)];
  if (!existsSync(file)) throw new UserError(`${spec}: vector file not found`);
  const { format, entries } = readTensorFile(file);
  const pick = (): TensorEntry => {
    if (key !== undefined) {
      const e = entries.find((x) => x.name === key);
      if (!e) throw new UserError(`${file}: no tensor "${key}" in it (it holds ${entries.map((x) => x.name || '(the file)').join(', ')})`);
      return e;
    }
    if (entries.length === 1) return entries[0];
    const d = entries[0].array.shape;
    if (entries.every((e) => /^\[\d+\]$/.test(e.name) && e.array.shape.length === 1 && e.array.shape[0] === d[0])) {
      const data = new Float32Array(entries.length * d[0]);
      entries.forEach((e, i) => data.set(e.array.data, i * d[0]));
      return { name: '[*]', array: { dtype: entries[0].array.dtype, shape: [entries.length, d[0]], data } };
    }
    throw new UserError(`${file}: holds ${entries.length} tensors (${entries.slice(0, 6).map((e) => `${e.name} [${e.array.shape}]`).join(', ')}${entries.length > 6 ? ', …' : ''}); name one as ${file}#KEY`);
  };
  const e = pick();
  const { shape, data } = e.array;
  const where = `${file}${e.name && e.name !== '[*]' ? `#${e.name}` : ''}`;
  if (shape.length === 1) return { file, format, tensor: e.name, shape, rows: [data], oneVector: true };
  if (shape.length !== 2 || shape[1] === 0 || shape[0] === 0) throw new UserError(`${where}: a tensor of shape [${shape}]; a direction is [d], [layers, d] or [layers + 1, d]`);
  const [R, d] = shape;
  const rows = Array.from({ length: R }, (_, r) => data.subarray(r * d, (r + 1) * d));
  return { file, format, tensor: e.name, shape, rows, oneVector: R === 1 };
}

export interface LaidOut {
  /** [nLayers][d] (row l = block l, resid_post), or one vector [1][d] for a [d] file. */
  vectors: Float32Array[];
  layout: VectorLayout | 'one-vector';
  /** In words, for provenance and logs. */
  mapping: string;
}

/** An error about the rows' layout, naming `options.layout` inside its detail (the CLI says its --vector-layout). */
function layoutError(detail: string): EmlensError {
  return new EmlensError('options.layout', detail, { inline: true });
}

/** [L, d] rows with neither a layout nor a model's layer count to tell blocks from hidden states: a caller holding other
 * directions can lay them out against those directions' layers instead. */
export class UndecidedLayoutError extends EmlensError {
  constructor(where: string, rows: number) {
    super('options.layout', `${where}: ${rows} rows, and no model to tell whether they are blocks or hidden states; give options.layout (blocks or hidden_states)`, { inline: true, exitCode: 2 });
    this.name = 'UndecidedLayoutError';
  }
}

/** The file's rows as emlens layers; the layout is inferred from the row count vs `nLayers` when not given. */
export function layOut(imp: ImportedVectors, o: { nLayers?: number; layout?: VectorLayout }): LaidOut {
  const where = imp.file + (imp.tensor && imp.tensor !== '[*]' ? `#${imp.tensor}` : '');
  if (imp.oneVector) return { vectors: [imp.rows[0]], layout: 'one-vector', mapping: `${where}: one vector [${imp.rows[0].length}], the same at every layer` };
  const R = imp.rows.length, L = o.nLayers;
  let layout = o.layout;
  if (!layout) {
    if (L === undefined) throw new UndecidedLayoutError(where, R);
    if (R === L) layout = 'blocks';
    else if (R === L + 1) layout = 'hidden_states';
    else throw new UserError(`${where}: ${R} rows, the model has ${L} layers: expected ${L} (one per block) or ${L + 1} (hidden states, row 0 = embeddings)`);
  }
  const want = layout === 'blocks' ? L : L === undefined ? undefined : L + 1;
  if (want !== undefined && R !== want) throw layoutError(`${where}: options.layout ${layout} needs ${want} rows for a model of ${L} layers, the file has ${R}`);
  if (layout === 'hidden_states' && R < 2) throw layoutError(`${where}: options.layout hidden_states needs at least 2 rows`);
  return layout === 'blocks'
    ? { vectors: imp.rows, layout, mapping: `${where} [${R}, d] as blocks: row l = emlens resid_post(l)` }
    : { vectors: imp.rows.slice(1), layout, mapping: `${where} [${R}, d] as hidden_states: row 0 (embedding output) left out, row l+1 = emlens resid_post(l)` };
}

export { ACCEPTED_TENSOR_FORMATS };
