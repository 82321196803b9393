// Writes GGUF v3 files (llama.cpp's format: header, typed key-value metadata, tensor infos, 32-byte aligned data) with
// string / uint32 / float32 metadata and F32 tensors: enough for a control vector. Axes: tensors as given (shape
// listed outermost first here; GGUF stores ne innermost first).
import { writeFileAtomic } from '../util/fs.ts';

export type GgufValue = { type: 'string'; value: string } | { type: 'uint32'; value: number } | { type: 'float32'; value: number };

export interface GgufTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

const ALIGN = 32; // general.alignment's default
const TYPE = { uint32: 4, float32: 6, string: 8 } as const;
const GGML_F32 = 0;

class Out {
  private parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(x: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, x, true);
    this.push(b);
  }
  u64(x: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(x), true);
    this.push(b);
  }
  f32(x: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, x, true);
    this.push(b);
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.push(b);
  }
  pad(): void {
    const n = (ALIGN - (this.length % ALIGN)) % ALIGN;
    if (n) this.push(new Uint8Array(n));
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** The bytes of a GGUF v3 file. */
export function encodeGguf(metadata: Record<string, GgufValue>, tensors: GgufTensor[]): Uint8Array {
  const out = new Out();
  out.push(new TextEncoder().encode('GGUF'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(Object.keys(metadata).length);
  for (const [key, v] of Object.entries(metadata)) {
    out.str(key);
    out.u32(TYPE[v.type]);
    if (v.type === 'string') out.str(v.value);
    else if (v.type === 'uint32') out.u32(v.value);
    else out.f32(v.value);
  }
  let offset = 0;
  for (const t of tensors) {
    out.str(t.name);
    out.u32(t.shape.length);
    for (const n of [...t.shape].reverse()) out.u64(n); // ne[0] is the innermost axis
    out.u32(GGML_F32);
    out.u64(offset);
    offset += Math.ceil((t.data.length * 4) / ALIGN) * ALIGN;
  }
  out.pad();
  for (const t of tensors) {
    const b = new Uint8Array(t.data.length * 4);
    const dv = new DataView(b.buffer);
    t.data.forEach((x, i) => dv.setFloat32(4 * i, x, true));
    out.push(b);
    out.pad();
  }
  return out.bytes();
}

export function writeGguf(path: string, metadata: Record<string, GgufValue>, tensors: GgufTensor[]): void {
  writeFileAtomic(path, encodeGguf(metadata, tensors));
}
