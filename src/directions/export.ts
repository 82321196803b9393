// A direction handed to other tools: a llama.cpp / ollama control vector (GGUF), a NumPy .npy, or a plain safetensors
// torch reads with safetensors.torch.load_file. Axes: direction rows [nLayers][dModel] → files as described below.
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { encodeNpy } from '../io/npy.ts';
import { encodeGguf, type GgufTensor } from '../io/gguf.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { writeSafetensors } from '../model/safetensors.ts';
import type { Direction } from './direction.ts';
import type { VectorLayout } from './imported.ts';

export const EXPORT_FORMATS = ['gguf-control-vector', 'npy', 'pt-compatible-safetensors'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * llama.cpp's control-vector numbering (common_control_vector_load + llama_adapter_cvec::apply, and each model graph's
 * `build_cvec(cur, il)` after block il's residual add): tensor `direction.N` is added to the output of block N
 * (0-based), i.e. emlens resid_post(N) = HF hidden_states[N+1]; N starts at 1 (`direction.0` is refused and block 0's
 * output is never steered) and N < n_layer. A resid_pre(l) row is resid_post(l−1), so it becomes direction.(l−1).
 */
export const LLAMA_CPP_NUMBERING = 'llama.cpp adds direction.N to the output of block N (0-based): direction.N = emlens resid_post(N) = HF hidden_states[N+1], N = 1 … layers−1 (block 0\'s output cannot be steered); a resid_pre(l) row goes to direction.(l−1)';

export interface ControlVector {
  tensors: GgufTensor[];
  /** emlens row → llama.cpp layer, and the rows left out with why. */
  mapping: { row: number; direction: number }[];
  skipped: { row: number; why: string }[];
}

/** The rows of `d` (all, or `rows`) as llama.cpp control-vector tensors, scaled by `scale`. */
export function controlVectorTensors(d: Direction, o: { rows?: number[]; scale?: number } = {}): ControlVector {
  const site = d.provenance.site;
  if (site !== 'resid_post' && site !== 'resid_pre') throw new UserError(`a control vector is added to the residual stream between blocks; this direction was taken at ${site} (export it as npy instead)`);
  const shift = site === 'resid_pre' ? -1 : 0;
  const rows = o.rows ?? d.vectors.map((_, l) => l);
  const scale = o.scale ?? 1;
  const tensors: GgufTensor[] = [], mapping: ControlVector['mapping'] = [], skipped: ControlVector['skipped'] = [];
  for (const row of rows) {
    if (row < 0 || row >= d.nLayers) throw new UserError(`row ${row} is out of range (the direction has rows 0..${d.nLayers - 1})`);
    const n = row + shift;
    if (n < 1) {
      skipped.push({ row, why: `${site}(${row}) is ${n === 0 ? "block 0's output" : 'the embedding output'}, which llama.cpp cannot steer` });
      continue;
    }
    tensors.push({ name: `direction.${n}`, shape: [d.dModel], data: Float32Array.from(d.vectors[row], (x) => x * scale) });
    mapping.push({ row, direction: n });
  }
  if (!tensors.length) throw new UserError(`no row llama.cpp can steer (${skipped.map((s) => s.why).join('; ')})`);
  return { tensors, mapping, skipped };
}

export function encodeControlVector(cv: ControlVector, modelHint: string): Uint8Array {
  return encodeGguf(
    {
      'general.architecture': { type: 'string', value: 'controlvector' },
      'controlvector.model_hint': { type: 'string', value: modelHint },
      'controlvector.layer_count': { type: 'uint32', value: cv.tensors.length },
    },
    cv.tensors,
  );
}

/**
 * The direction as a [R, d] float32 matrix: blocks (R = layers, row l = the direction's row l) or hidden_states
 * (R = layers + 1 in HF hidden_states order; the slot the direction has no vector for is zeros).
 */
export function directionMatrix(d: Direction, layout: VectorLayout = 'blocks'): { shape: [number, number]; data: Float32Array; note: string } {
  const L = d.nLayers, D = d.dModel;
  if (layout === 'blocks') {
    const data = new Float32Array(L * D);
    d.vectors.forEach((v, l) => data.set(v, l * D));
    return { shape: [L, D], data, note: `row l = emlens ${d.provenance.site}(l)` };
  }
  const site = d.provenance.site;
  if (site !== 'resid_post' && site !== 'resid_pre') throw new EmlensError('layout', `the direction was taken at ${site}, not on the residual stream hidden_states hold`, { value: layout });
  const data = new Float32Array((L + 1) * D);
  const first = site === 'resid_post' ? 1 : 0; // hidden_states[l+1] = resid_post(l), hidden_states[l] = resid_pre(l)
  d.vectors.forEach((v, l) => data.set(v, (l + first) * D));
  return { shape: [L + 1, D], data, note: site === 'resid_post' ? 'row 0 (embedding output) zeros, row l+1 = emlens resid_post(l)' : 'row l = emlens resid_pre(l), last row (after the last block) zeros' };
}

/** Writes the direction in `format` (atomic); returns what the file holds, in words. */
export function exportDirection(d: Direction, format: ExportFormat, out: string, o: { modelHint?: string; rows?: number[]; scale?: number; layout?: VectorLayout } = {}): Record<string, unknown> {
  if (format === 'gguf-control-vector') {
    if (!o.modelHint) throw new EmlensError('options.modelHint', 'a control vector needs a model hint (e.g. qwen2 or llama)');
    const cv = controlVectorTensors(d, o);
    writeFileAtomic(out, encodeControlVector(cv, o.modelHint));
    return { format, out, model_hint: o.modelHint, layer_count: cv.tensors.length, mapping: cv.mapping, skipped: cv.skipped, numbering: LLAMA_CPP_NUMBERING };
  }
  const m = directionMatrix(d, o.layout);
  if (o.scale !== undefined && o.scale !== 1) m.data.forEach((x, i) => (m.data[i] = x * o.scale!));
  if (format === 'npy') writeFileAtomic(out, encodeNpy(m.shape, m.data));
  else writeSafetensors(out, { direction: { dtype: 'F32', shape: m.shape, data: m.data } }, { 'emlens.layout': m.note, 'emlens.provenance': JSON.stringify(d.provenance) });
  return { format, out, shape: m.shape, layout: o.layout ?? 'blocks', rows: m.note };
}
