// Reads what `torch.save` writes (its zip format: <archive>/data.pkl + <archive>/data/<key> storages) with pickleparser
// and fflate: tensors (float32/float16/bfloat16/float64; any offset and strides), dicts / state dicts, lists and tuples.
// Only torch's tensor-rebuild functions, storage types and OrderedDict may appear in the pickle: any other global is
// refused before anything is called. No tensor axes (tensors keep the file's shape, returned in C order).
import { unzipSync } from 'fflate';
import { Parser } from 'pickleparser';
import { UserError } from '../util/log.ts';
import { toF32, type StDtype } from '../model/safetensors.ts';
import type { HostArray } from './npy.ts';

/** A value of the pickle: a tensor, a dict (string keys), a list/tuple, or a plain scalar/string. */
export type TorchValue = HostArray | Map<string, TorchValue> | TorchValue[] | string | number | boolean | null;

export const isHostArray = (v: unknown): v is HostArray => typeof v === 'object' && v !== null && (v as HostArray).data instanceof Float32Array && Array.isArray((v as HostArray).shape);

/** torch storage classes: the float ones read, the others known by name so the error can say what they hold. */
const STORAGES: Record<string, { dtype: string; st?: StDtype; bytes: number }> = {
  FloatStorage: { dtype: 'float32', st: 'F32', bytes: 4 },
  HalfStorage: { dtype: 'float16', st: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', st: 'BF16', bytes: 2 },
  DoubleStorage: { dtype: 'float64', st: 'F64', bytes: 8 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
  ComplexFloatStorage: { dtype: 'complex64', bytes: 8 },
  ComplexDoubleStorage: { dtype: 'complex128', bytes: 16 },
};

class StorageType {
  constructor(readonly name: string) {}
}

interface Storage {
  type: StorageType;
  key: string;
  numel: number;
}

/** A tensor as the pickle describes it, made into a HostArray only once the whole pickle has been read. */
class LazyTensor {
  constructor(readonly storage: Storage, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}

const OK_GLOBALS = new Set(['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state', 'collections.OrderedDict']);

export const TORCH_FORMAT = 'a PyTorch .pt/.pth written by torch.save (zip format)';

/** Reads a torch.save file: its object, with every tensor as a float32 HostArray. */
export function parseTorchFile(bytes: Uint8Array, where: string): TorchValue {
  if (!(bytes[0] === 0x50 && bytes[1] === 0x4b)) {
    const legacy = bytes[0] === 0x80 && bytes[1] <= 5; // a bare pickle stream: torch's legacy (pre-1.6) format
    throw new UserError(`${where}: not ${TORCH_FORMAT}${legacy ? '; this is the legacy format (_use_new_zipfile_serialization=False): re-save it with a current torch.save' : ''}`);
  }
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new UserError(`${where}: not a readable zip archive (${(e as Error).message})`);
  }
  const pklName = Object.keys(files).find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (!pklName) throw new UserError(`${where}: a zip without data.pkl: not ${TORCH_FORMAT}`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const byteorder = files[`${prefix}byteorder`];
  if (byteorder && new TextDecoder().decode(byteorder).trim() === 'big') throw new UserError(`${where}: saved on a big-endian machine; emlens reads little-endian torch files`);

  const parser = new Parser({
    unpicklingTypeOfDictionary: 'Map',
    nameResolver: {
      resolve: (module: string, name: string) => {
        const fqn = `${module}.${name}`;
        if (module === 'torch' && STORAGES[name]) return (() => new StorageType(name)) as never; // pushed as a class marker
        if (!OK_GLOBALS.has(fqn)) throw new UserError(`${where}: the pickle refers to ${fqn}, which emlens does not load (only tensors, lists and dicts of tensors are read; no Python objects)`);
        return GLOBALS[fqn] as never;
      },
    },
    persistentResolver: {
      resolve: (pid: unknown) => {
        const p = pid as unknown[];
        if (!Array.isArray(p) || p[0] !== 'storage' || typeof p[2] !== 'string') throw new UserError(`${where}: unexpected persistent id in the pickle (${JSON.stringify(pid)})`);
        const type = typeof p[1] === 'function' ? (p[1] as () => StorageType)() : p[1];
        if (!(type instanceof StorageType)) throw new UserError(`${where}: a storage of unknown type in the pickle`);
        return { type, key: p[2], numel: Number(p[4]) } satisfies Storage;
      },
    },
  });
  let obj: unknown;
  try {
    obj = parser.parse(files[pklName]);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${where}: its pickle could not be read (${(e as Error).message})`);
  }
  return materialize(obj, files, prefix, where, '');
}

const GLOBALS: Record<string, (...a: unknown[]) => unknown> = {
  'torch._utils._rebuild_tensor_v2': (storage, offset, size, stride) => rebuild(storage, offset, size, stride),
  'torch._utils._rebuild_tensor': (storage, offset, size, stride) => rebuild(storage, offset, size, stride),
  'torch._utils._rebuild_parameter': (data) => data,
  'torch._utils._rebuild_parameter_with_state': (data) => data,
  'collections.OrderedDict': () => new Map(),
};

function rebuild(storage: unknown, offset: unknown, size: unknown, stride: unknown): LazyTensor {
  const s = storage as Storage;
  if (!s || !(s.type instanceof StorageType) || typeof offset !== 'number' || !Array.isArray(size) || !Array.isArray(stride)) throw new Error('malformed tensor record');
  return new LazyTensor(s, offset, size.map(Number), stride.map(Number));
}

function materialize(v: unknown, files: Record<string, Uint8Array>, prefix: string, where: string, path: string): TorchValue {
  if (v instanceof LazyTensor) return tensorData(v, files, prefix, where, path);
  if (v instanceof Map) {
    const out = new Map<string, TorchValue>();
    for (const [k, x] of v) out.set(String(k), materialize(x, files, prefix, where, path ? `${path}.${k}` : String(k)));
    return out;
  }
  if (Array.isArray(v)) return v.map((x, i) => materialize(x, files, prefix, where, `${path}[${i}]`));
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new UserError(`${where}: ${path || 'the pickle'} holds a ${v?.constructor?.name ?? typeof v}, not a tensor, list or dict`);
}

function tensorData(t: LazyTensor, files: Record<string, Uint8Array>, prefix: string, where: string, path: string): HostArray {
  const name = path || 'the tensor';
  const info = STORAGES[t.storage.type.name];
  if (!info.st) throw new UserError(`${where}: ${name} is ${info.dtype}; emlens reads float32, float16, bfloat16 or float64 tensors`);
  const raw = files[`${prefix}data/${t.storage.key}`];
  if (!raw) throw new UserError(`${where}: storage ${t.storage.key} of ${name} is missing from the archive`);
  const all = toF32(info.st, Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength - (raw.byteLength % info.bytes)));
  const n = t.size.reduce((a, x) => a * x, 1);
  // the furthest element the view reaches must lie inside the storage
  const last = t.offset + t.size.reduce((a, s, i) => a + (s > 0 ? (s - 1) * t.stride[i] : 0), 0);
  if (n > 0 && (t.offset < 0 || last >= all.length || t.stride.some((s) => s < 0))) throw new UserError(`${where}: ${name}'s view (offset ${t.offset}, size [${t.size}], stride [${t.stride}]) lies outside its storage of ${all.length} elements`);
  const data = new Float32Array(n);
  // C-order walk over the view: index → storage offset Σ idx_i·stride_i
  const idx = new Array(t.size.length).fill(0);
  let src = t.offset;
  for (let i = 0; i < n; i++) {
    data[i] = all[src];
    for (let d = t.size.length - 1; d >= 0; d--) {
      idx[d]++;
      src += t.stride[d];
      if (idx[d] < t.size[d]) break;
      src -= idx[d] * t.stride[d];
      idx[d] = 0;
    }
  }
  return { dtype: info.dtype, shape: t.size, data };
}
