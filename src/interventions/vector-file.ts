// Reads a vector for --steer / --ablate / --direction: a JSON array of dModel numbers, or a direction file (one vector
// per layer, parsed by Direction.load through the spec's vectorSource). Axes: the returned vector is [dModel].
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { vectorSource } from './spec.ts';
import type { VectorLayout } from '../directions/imported.ts';

/**
 * A direction file is a .safetensors with a tensor "directions" [nLayers, dModel] and, in its metadata,
 * "emlens.direction" (JSON provenance with best_layer); `layer` picks the row (default: best_layer). Another tool's
 * .pt/.npy/… rows are laid out on `files.nLayers` blocks as `files.layout` says (default: from the row count).
 */
export function readVector(path: string, dModel: number, layer?: number, files: { nLayers?: number; layout?: VectorLayout } = {}): Float32Array {
  try {
    return vectorSource(path, dModel, 'vector', files)(layer);
  } catch (e) {
    throw e instanceof EmlensError ? new UserError(e.detail) : e;
  }
}
