// NumPy's .npy (one array) and .npz (a zip of .npy, stored or deflated, as np.savez / np.savez_compressed write it):
// read as float32 host arrays, and .npy written. No tensor axes (arrays keep the file's shape, C order).
import { unzipSync } from 'fflate';
import { UserError } from '../util/log.ts';
import { halfToFloat } from '../model/safetensors.ts';

/** A float array read from a file: C-order data with its shape and the dtype it was stored in. */
export interface HostArray {
  dtype: string;
  shape: number[];
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const FLOAT_DESCR: Record<string, number> = { '<f2': 2, '<f4': 4, '<f8': 8 };

export const isNpy = (b: Uint8Array): boolean => b.length >= 10 && MAGIC.every((m, i) => b[i] === m);

/** One .npy array; `where` names the file (and the member of an .npz) in errors. */
export function parseNpy(b: Uint8Array, where: string): HostArray {
  if (!isNpy(b)) throw new UserError(`${where}: not a .npy array (no \\x93NUMPY magic)`);
  const major = b[6];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const [headerLen, start] = major === 1 ? [dv.getUint16(8, true), 10] : [dv.getUint32(8, true), 12];
  if (start + headerLen > b.length) throw new UserError(`${where}: truncated .npy header`);
  const header = new TextDecoder('latin1').decode(b.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new UserError(`${where}: malformed .npy header ${JSON.stringify(header.trim())}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw new UserError(`${where}: malformed .npy shape (${shapeText})`);
  const width = FLOAT_DESCR[descr.replace(/^=/, '<')];
  if (!width) throw new UserError(`${where}: dtype ${descr} is not supported; emlens reads little-endian float16, float32 or float64 arrays (<f2, <f4, <f8)`);
  if (fortran === 'True') throw new UserError(`${where}: a Fortran-order array; save it in C order (np.ascontiguousarray) first`);
  const n = shape.reduce((a, x) => a * x, 1);
  const off = start + headerLen;
  if (off + n * width > b.length) throw new UserError(`${where}: truncated .npy data (${n} × ${width} bytes expected, ${b.length - off} present)`);
  const data = new Float32Array(n);
  const view = new DataView(b.buffer, b.byteOffset + off, n * width);
  for (let i = 0; i < n; i++) data[i] = width === 4 ? view.getFloat32(4 * i, true) : width === 8 ? view.getFloat64(8 * i, true) : halfToFloat(view.getUint16(2 * i, true));
  return { dtype: { 2: 'float16', 4: 'float32', 8: 'float64' }[width]!, shape, data };
}

/** The arrays of an .npz, by name (the member name less ".npy"), in the archive's order. */
export function parseNpz(b: Uint8Array, where: string): Map<string, HostArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(b);
  } catch (e) {
    throw new UserError(`${where}: not a readable .npz (zip) archive (${(e as Error).message})`);
  }
  const out = new Map<string, HostArray>();
  for (const [name, bytes] of Object.entries(files)) {
    if (!name.endsWith('.npy')) continue;
    out.set(name.slice(0, -4), parseNpy(bytes, `${where}:${name}`));
  }
  if (!out.size) throw new UserError(`${where}: an .npz with no .npy arrays in it`);
  return out;
}

/** A little-endian float32 .npy (format 1.0) of a C-order array. */
export function encodeNpy(shape: number[], data: Float32Array): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const body = new DataView(out.buffer, 10 + header.length);
  data.forEach((x, i) => body.setFloat32(4 * i, x, true));
  return out;
}
