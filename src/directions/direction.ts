// A Direction is data: one vector per layer plus provenance, with arithmetic and safetensors + JSON storage.
// Axes: vectors [nLayers][dModel] (row l = decoder block l at the recorded site).
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../util/log.ts';
import { SafetensorsFile, writeSafetensors } from '../model/safetensors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { LAYER_CONVENTION } from '../util/conventions.ts';
import type { HookSite } from '../model/hooks.ts';
import { ACCEPTED_TENSOR_FORMATS, layOut, readImportedVectors, type VectorLayout } from './imported.ts';

export type PositionRule = 'answer-mean' | 'last-prompt' | 'prompt-mean' | 'post-instruction' | 'none';

export interface Provenance {
  kind: string; // em | refusal | persona | contrast | lora-b | gate | random | derived …
  model?: string;
  adapter?: string;
  site: HookSite;
  positions: PositionRule;
  method: string; // mean-diff | pca | probe | lora-b | random | expression …
  datasets?: string[];
  counts?: { pos: number; neg: number };
  /** Layer with the strongest separation (or the one a selection procedure chose). */
  best_layer?: number;
  layer_indexing: typeof LAYER_CONVENTION;
  notes?: string;
  /** The provenance of the directions this one was computed from (arithmetic). */
  derived_from?: Provenance | Provenance[];
  /** Method-specific details (e.g. a refusal candidate selection, a probe's accuracy). */
  details?: Record<string, unknown>;
}

export class Direction {
  constructor(readonly vectors: Float64Array[], readonly provenance: Provenance) {
    const d = vectors[0]?.length;
    if (!vectors.length || vectors.some((v) => v.length !== d)) throw new Error('Direction: needs ≥ 1 layer, all of one width');
  }

  static make(vectors: ArrayLike<number>[], p: Omit<Provenance, 'layer_indexing'>): Direction {
    return new Direction(vectors.map((v) => Float64Array.from(v)), { ...p, layer_indexing: LAYER_CONVENTION });
  }

  get nLayers(): number {
    return this.vectors.length;
  }

  get dModel(): number {
    return this.vectors[0].length;
  }

  /** Vector at a layer (default: best_layer). */
  at(layer = this.provenance.best_layer): Float64Array {
    if (layer === undefined) throw new UserError(`direction (${this.provenance.kind}) has no best layer recorded: name one`);
    if (layer < 0 || layer >= this.nLayers) throw new UserError(`layer ${layer} is out of range (0..${this.nLayers - 1})`);
    return this.vectors[layer];
  }

  private map(f: (v: Float64Array, l: number) => Float64Array, method: string, extra: Partial<Provenance> = {}): Direction {
    return new Direction(this.vectors.map(f), { ...this.provenance, kind: 'derived', method, derived_from: this.provenance, ...extra });
  }

  scale(s: number): Direction {
    return this.map((v) => v.map((x) => x * s), `scale(${s})`);
  }

  neg(): Direction {
    return this.scale(-1);
  }

  add(o: Direction): Direction {
    this.checkSameShape(o);
    return this.map((v, l) => v.map((x, i) => x + o.vectors[l][i]), 'add', { derived_from: [this.provenance, o.provenance] });
  }

  sub(o: Direction): Direction {
    return this.add(o.neg());
  }

  /** Unit vector per layer (zero rows stay zero). */
  normalize(): Direction {
    return this.map((v) => {
      const n = norm(v);
      return n > 0 ? v.map((x) => x / n) : v.slice();
    }, 'normalize');
  }

  norms(): number[] {
    return this.vectors.map(norm);
  }

  /** Cosine with another direction, layer by layer. */
  cosine(o: Direction): (number | null)[] {
    this.checkSameShape(o);
    return this.vectors.map((v, l) => cosine(v, o.vectors[l]));
  }

  private checkSameShape(o: Direction): void {
    if (o.nLayers !== this.nLayers || o.dModel !== this.dModel) throw new UserError(`directions differ in shape: [${this.nLayers}, ${this.dModel}] vs [${o.nLayers}, ${o.dModel}]`);
  }

  /** path.safetensors ("directions" [nLayers, dModel], provenance in its metadata) + path.json (the provenance). */
  save(path: string): string {
    const file = path.endsWith('.safetensors') ? path : `${path}.safetensors`;
    const data = new Float32Array(this.nLayers * this.dModel);
    this.vectors.forEach((v, l) => data.set(v, l * this.dModel));
    writeSafetensors(file, { directions: { dtype: 'F32', shape: [this.nLayers, this.dModel], data } }, { 'emlens.direction': JSON.stringify(this.provenance) });
    writeJsonAtomic(file.replace(/\.safetensors$/, '.json'), { ...this.provenance, n_layers: this.nLayers, d_model: this.dModel, norms: this.norms() });
    return file;
  }

  /**
   * An emlens direction file (.safetensors with "directions" and its provenance; its .json sidecar names it too), or a
   * direction another tool saved (torch.save .pt/.pth, NumPy .npy/.npz, a plain .safetensors; FILE#KEY picks a tensor
   * of several): [d] is one vector (repeated at each of `nLayers` layers when given), [L, d] / [L+1, d] are laid out
   * as `layout` says or as the row count vs `nLayers` tells (see imported.ts); the mapping goes into the provenance.
   */
  static load(path: string, o: { nLayers?: number; layout?: VectorLayout } = {}): Direction {
    const hashed = !existsSync(path) && /#[^/#]+$/.test(path) && existsSync(path.replace(/#[^/#]+$/, ''));
    const file = existsSync(path) || hashed ? path : `${path}.safetensors`;
    if (!existsSync(file) && !hashed) throw new UserError(`${path}: direction file not found`);
    if (/\.json$/i.test(file)) {
      // a sidecar .json was named: read its safetensors twin
      const twin = file.replace(/\.json$/i, '.safetensors');
      if (existsSync(twin)) return Direction.load(twin, o);
      throw new UserError(`${path}: a .json without its direction file ${twin}; expected ${ACCEPTED_TENSOR_FORMATS.replace(', or a JSON array of numbers', '')}`);
    }
    const native = hashed ? undefined : readNative(file);
    return native ?? Direction.imported(path, o);
  }

  /** A direction from another tool's tensor file (see load). */
  static imported(path: string, o: { nLayers?: number; layout?: VectorLayout } = {}): Direction {
    const imp = readImportedVectors(path);
    const laid = layOut(imp, o);
    const one = laid.layout === 'one-vector';
    const vectors = one && o.nLayers ? Array.from({ length: o.nLayers }, () => laid.vectors[0]) : laid.vectors;
    return Direction.make(vectors, {
      kind: 'imported', site: 'resid_post', positions: 'none', method: `${imp.format} file`, best_layer: one ? 0 : undefined, notes: laid.mapping,
      details: { file: imp.file, format: imp.format, tensor: imp.tensor || undefined, file_shape: imp.shape, layout: laid.layout, one_vector: one || undefined },
    });
  }
}

/** An emlens direction file, or undefined when the file is some other tensor file (a plain .safetensors, a .pt …). */
function readNative(file: string): Direction | undefined {
  if (!file.endsWith('.safetensors')) return undefined;
  const f = SafetensorsFile.open(file);
  try {
    const info = f.tensors.get('directions');
    const sidecar = file.replace(/\.safetensors$/, '.json');
    const raw = f.metadata['emlens.direction'];
    if (!info || (!raw && !existsSync(sidecar))) return undefined;
    if (info.shape.length !== 2) throw new UserError(`${file}: not a direction file ("directions" is [${info.shape}], not [nLayers, dModel])`);
    let provenance: Provenance;
    try {
      provenance = JSON.parse(raw ?? readFileSync(sidecar, 'utf8')) as Provenance;
    } catch (e) {
      throw new UserError(`${raw ? `${file} (metadata emlens.direction)` : sidecar}: not valid JSON (${(e as Error).message})`);
    }
    const all = f.readF32('directions');
    const [L, d] = info.shape;
    return new Direction(Array.from({ length: L }, (_, l) => Float64Array.from(all.subarray(l * d, (l + 1) * d))), provenance);
  } finally {
    f.close();
  }
}

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const na = norm(a), nb = norm(b);
  return na > 0 && nb > 0 ? dot(a, b) / (na * nb) : null;
}
