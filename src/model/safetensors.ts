// Reads and writes the safetensors format tensor by tensor (never a whole file in one Buffer), incl. sharded checkpoints.
// Shapes are kept as stored; dtypes F32/F16/BF16/F64/I32/I64/I8/U8/BOOL are read, F32/F16/BF16/I32/I64 written.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, renameSync, writeSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../util/log.ts';
import { checkFinite } from '../util/validate.ts';
import { readErrorReason } from '../util/fs.ts';

export type StDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64' | 'I8' | 'U8' | 'BOOL';
const BYTES: Record<StDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, I8: 1, U8: 1, BOOL: 1 };

export interface TensorInfo {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface HostTensor {
  dtype: 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';
  shape: number[];
  data: Float32Array | Int32Array | BigInt64Array;
}

/** One .safetensors file opened for random access. */
export class SafetensorsFile {
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string> = {};
  private fd: number;
  private dataStart: number;

  private constructor(readonly path: string) {
    if (!existsSync(path)) throw new UserError(`${path}: file not found`);
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new UserError(`${path}: ${readErrorReason(e)}`);
    }
    const st = fstatSync(this.fd);
    if (st.isDirectory()) this.fail('is a folder, not a safetensors file');
    const size = st.size;
    const head = Buffer.alloc(8);
    if (size < 8 || readSync(this.fd, head, 0, 8, 0) !== 8) this.fail('too short to be a safetensors file');
    const n = Number(head.readBigUInt64LE(0));
    if (n <= 0 || 8 + n > size) this.fail(`header length ${n} does not fit in a ${size}-byte file (truncated?)`);
    const hbuf = Buffer.alloc(n);
    readSync(this.fd, hbuf, 0, n, 8);
    let header: unknown;
    try {
      header = JSON.parse(hbuf.toString('utf8'));
    } catch {
      this.fail('header is not valid JSON (truncated or not a safetensors file)');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) this.fail(`header is ${header === null ? 'null' : Array.isArray(header) ? 'an array' : typeof header}, not a JSON object of tensors`);
    this.dataStart = 8 + n;
    const dataSize = size - this.dataStart;
    for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail('__metadata__ is not a JSON object');
        Object.assign(this.metadata, v as object);
        continue;
      }
      this.tensors.set(name, this.checkEntry(name, v, dataSize));
    }
    // tensors may not share bytes: an overlap reads one tensor's bytes as another's
    const byStart = [...this.tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < byStart.length; i++) {
      if (byStart[i].begin < byStart[i - 1].end) this.fail(`tensor ${byStart[i].name}: data_offsets [${byStart[i].begin}, ${byStart[i].end}] overlap tensor ${byStart[i - 1].name}'s [${byStart[i - 1].begin}, ${byStart[i - 1].end}]`);
    }
  }

  /** One header entry checked: a known dtype, a shape of non-negative integers, offsets inside the data section that hold exactly that shape. */
  private checkEntry(name: string, v: unknown, dataSize: number): TensorInfo {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`tensor ${name}: header entry is ${JSON.stringify(v)}, not {"dtype", "shape", "data_offsets"}`);
    const { dtype, shape, data_offsets } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') this.fail(`tensor ${name}: no "dtype"`);
    if (!(dtype in BYTES)) this.fail(`tensor ${name} has unsupported dtype ${dtype}`);
    if (!Array.isArray(shape)) this.fail(`tensor ${name}: no "shape" (a list of dimensions)`);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) this.fail(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    const offsets = data_offsets as unknown[];
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) {
      this.fail(`tensor ${name}: data_offsets ${JSON.stringify(data_offsets)} is not [begin, end] of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) this.fail(`tensor ${name}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) this.fail(`tensor ${name} ends past the end of the file (data_offsets [${begin}, ${end}], ${dataSize} data bytes; truncated?)`);
    const want = (shape as number[]).reduce((a, d) => a * d, 1) * BYTES[dtype as StDtype];
    if (end - begin !== want) this.fail(`tensor ${name}: ${end - begin} bytes stored for shape [${shape}] ${dtype}`);
    return { name, dtype: dtype as StDtype, shape: shape as number[], begin, end };
  }

  static open(path: string): SafetensorsFile {
    return new SafetensorsFile(path);
  }

  private fail(why: string): never {
    try { closeSync(this.fd); } catch { /* already closed */ }
    throw new UserError(`${this.path}: ${why}`);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new UserError(`${this.path}: no tensor named ${name}`);
    return t;
  }

  /** Raw bytes of one tensor. */
  readBytes(name: string): Buffer {
    const t = this.info(name);
    const buf = Buffer.from(new ArrayBuffer(t.end - t.begin)); // own, aligned ArrayBuffer
    let done = 0;
    while (done < buf.length) {
      const got = readSync(this.fd, buf, done, buf.length - done, this.dataStart + t.begin + done);
      if (got <= 0) this.fail(`tensor ${name}: unexpected end of file`);
      done += got;
    }
    return buf;
  }

  /** One tensor converted to float32 (floats widened exactly; ints converted); a NaN or infinity is an error naming it. */
  readF32(name: string): Float32Array {
    const data = toF32(this.info(name).dtype, this.readBytes(name));
    checkFinite(data, `${this.path}: tensor ${name}`);
    return data;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export function toF32(dtype: StDtype, b: Buffer): Float32Array {
  const n = b.length / BYTES[dtype];
  const ab = b.byteOffset % 8 === 0 ? b.buffer.slice(b.byteOffset, b.byteOffset + b.length) : new Uint8Array(b).buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(ab);
    case 'F64':
      return Float32Array.from(new Float64Array(ab));
    case 'BF16': {
      const src = new Uint16Array(ab), out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const table = halfTable(), src = new Uint16Array(ab), out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[src[i]];
      return out;
    }
    case 'I32':
      return Float32Array.from(new Int32Array(ab));
    case 'I64':
      return Float32Array.from(new BigInt64Array(ab), (v) => Number(v));
    case 'I8':
      return Float32Array.from(new Int8Array(ab));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(new Uint8Array(ab));
  }
}

let HALF_TABLE: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function floatToHalf(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function floatToBf16(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0];
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return (u >>> 16) | 0x40;
  const rounding = 0x7fff + ((u >>> 16) & 1);
  return ((u + rounding) >>> 16) & 0xffff;
}

/** A checkpoint: model.safetensors, or shards listed in model.safetensors.index.json, or any *.safetensors given. */
export class Checkpoint {
  private files = new Map<string, SafetensorsFile>();
  readonly where = new Map<string, SafetensorsFile>();

  private constructor(readonly dir: string, paths: string[]) {
    for (const p of paths) {
      const f = SafetensorsFile.open(p);
      this.files.set(p, f);
      for (const name of f.tensors.keys()) this.where.set(name, f);
    }
  }

  static open(dirOrFile: string, fileName = 'model.safetensors'): Checkpoint {
    if (dirOrFile.endsWith('.safetensors')) return new Checkpoint(dirname(dirOrFile), [dirOrFile]);
    const single = join(dirOrFile, fileName);
    if (existsSync(single)) return new Checkpoint(dirOrFile, [single]);
    const index = join(dirOrFile, `${fileName}.index.json`);
    if (existsSync(index)) {
      let map: Record<string, string>;
      try {
        map = JSON.parse(readFileSync(index, 'utf8')).weight_map;
      } catch (e) {
        throw new UserError(`${index}: not valid JSON (${(e as Error).message})`);
      }
      if (!map) throw new UserError(`${index}: no "weight_map"`);
      const shards = [...new Set(Object.values(map))].map((s) => join(dirOrFile, s));
      for (const s of shards) if (!existsSync(s)) throw new UserError(`${index}: shard ${s} is missing`);
      return new Checkpoint(dirOrFile, shards);
    }
    throw new UserError(`${dirOrFile}: no ${fileName} or ${fileName}.index.json`);
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  info(name: string): TensorInfo {
    const f = this.where.get(name);
    if (!f) throw new UserError(`${this.dir}: missing weight ${name}`);
    return f.info(name);
  }

  readF32(name: string): Float32Array {
    const f = this.where.get(name);
    if (!f) throw new UserError(`${this.dir}: missing weight ${name}`);
    return f.readF32(name);
  }

  close(): void {
    for (const f of this.files.values()) f.close();
  }
}

/** Writes tensors to `path` atomically (temp file + rename), tensor by tensor. F32 data is converted to `dtype`. */
export function writeSafetensors(path: string, tensors: Record<string, HostTensor>, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (t.data.length !== n) throw new Error(`writeSafetensors: ${name} has ${t.data.length} values for shape [${t.shape}]`);
    const bytes = n * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hbuf = Buffer.from(json, 'utf8');
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hbuf.length));
    writeSync(fd, len);
    writeSync(fd, hbuf);
    for (const name of names) writeSync(fd, encode(tensors[name]));
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

function encode(t: HostTensor): Buffer {
  const n = t.data.length;
  switch (t.dtype) {
    case 'F32':
      return Buffer.from(new Float32Array(t.data as Float32Array).buffer);
    case 'I32':
      return Buffer.from(new Int32Array(t.data as Int32Array).buffer);
    case 'I64': {
      const b = Buffer.alloc(8 * n);
      for (let i = 0; i < n; i++) b.writeBigInt64LE(BigInt(t.data[i] as number | bigint), 8 * i);
      return b;
    }
    case 'F16':
    case 'BF16': {
      const conv = t.dtype === 'F16' ? floatToHalf : floatToBf16;
      const b = Buffer.alloc(2 * n);
      for (let i = 0; i < n; i++) b.writeUInt16LE(conv(t.data[i] as number), 2 * i);
      return b;
    }
  }
}
