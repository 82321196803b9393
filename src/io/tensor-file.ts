// Any tensor file a Python project hands over, as named float32 arrays: torch.save's .pt/.pth (zip), NumPy's .npy/.npz
// and plain .safetensors; told apart by their bytes, not their extension. No tensor axes (arrays keep their shape).
import { readFileSync, statSync } from 'node:fs';
import { UserError } from '../util/log.ts';
import { readErrorReason } from '../util/fs.ts';
import { checkFinite } from '../util/validate.ts';
import { SafetensorsFile } from '../model/safetensors.ts';
import { isNpy, parseNpy, parseNpz, type HostArray } from './npy.ts';
import { isHostArray, parseTorchFile, type TorchValue } from './torch-file.ts';

export type { HostArray } from './npy.ts';

/** What the readers accept, for error messages. */
export const ACCEPTED_TENSOR_FORMATS = 'an emlens direction .safetensors, a .safetensors of one tensor, a torch.save .pt/.pth (a tensor, a list or dict of tensors), a NumPy .npy or .npz, or a JSON array of numbers';

export interface TensorEntry {
  /** Where the tensor sits in the file: "" (the whole file), a dict key, "[i]" for a list item, or a dotted path. */
  name: string;
  array: HostArray;
}

export type TensorFileFormat = 'torch' | 'npy' | 'npz' | 'safetensors';

/** The file's format from its first bytes (undefined: none of the binary formats). */
export function sniffTensorFormat(path: string, head: Uint8Array): TensorFileFormat | undefined {
  if (isNpy(head)) return 'npy';
  if (head[0] === 0x50 && head[1] === 0x4b) return /\.npz$/i.test(path) ? 'npz' : 'torch'; // a zip: npz or torch's format
  if (head[0] === 0x80 && head[1] <= 5) return 'torch'; // a bare pickle: torch's legacy format (refused with its name)
  if (head.length >= 9 && head[8] === 0x7b && /\.safetensors$/i.test(path)) return 'safetensors';
  return undefined;
}

const MAX_BYTES = 2 ** 31 - 1;

function readBytes(path: string): Uint8Array {
  try {
    if (statSync(path).size > MAX_BYTES) throw new UserError(`${path}: larger than 2 GiB, more than emlens reads of a .pt/.npy file at once; save the tensors you need on their own (or as .safetensors)`);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: ${readErrorReason(e)}`);
  }
}

/** Every tensor in the file with its place in it; non-finite values and non-float dtypes are errors naming the tensor. */
export function readTensorFile(path: string): { format: TensorFileFormat; entries: TensorEntry[] } {
  const bytes = readBytes(path);
  const format = sniffTensorFormat(path, bytes.subarray(0, 16));
  let entries: TensorEntry[];
  switch (format) {
    case 'npy':
      entries = [{ name: '', array: parseNpy(bytes, path) }];
      break;
    case 'npz':
      entries = [...parseNpz(bytes, path)].map(([name, array]) => ({ name, array }));
      break;
    case 'torch':
      entries = flatten(parseTorchFile(bytes, path), '');
      if (!entries.length) throw new UserError(`${path}: holds no tensors (a torch.save of something else)`);
      break;
    case 'safetensors':
      entries = readSafetensors(path);
      break;
    default:
      throw new UserError(`${path}: not a tensor file emlens reads; expected ${ACCEPTED_TENSOR_FORMATS}`);
  }
  for (const e of entries) checkFinite(e.array.data, `${path}${e.name ? ` (${e.name})` : ''}`);
  return { format, entries };
}

function readSafetensors(path: string): TensorEntry[] {
  const f = SafetensorsFile.open(path);
  try {
    return [...f.tensors.values()].map((info) => {
      if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) throw new UserError(`${path}: tensor ${info.name} is ${info.dtype}; emlens reads float tensors (F32, F16, BF16, F64)`);
      return { name: info.name, array: { dtype: info.dtype, shape: info.shape, data: f.readF32(info.name) } };
    });
  } finally {
    f.close();
  }
}

/** The tensors of a pickled object, depth first; scalars and strings (e.g. a saved step count) are left out. */
function flatten(v: TorchValue, path: string): TensorEntry[] {
  if (isHostArray(v)) return [{ name: path, array: v }];
  if (v instanceof Map) return [...v].flatMap(([k, x]) => flatten(x, path ? `${path}.${k}` : k));
  if (Array.isArray(v)) return v.flatMap((x, i) => flatten(x, `${path}[${i}]`));
  return [];
}
