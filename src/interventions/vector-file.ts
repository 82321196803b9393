// Reads a vector for --steer / --ablate / --direction: a JSON array of dModel numbers, or a direction file (one vector
// per layer, parsed by Direction.load through the spec's vectorSource). Axes: the returned vector is [dModel].
import { UserError } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { vectorSource } from './spec.ts';

/**
 * A direction file is a .safetensors with a tensor "directions" [nLayers, dModel] and, in its metadata,
 * "emlens.direction" (JSON provenance with best_layer); `layer` picks the row (default: best_layer).
 */
export function readVector(path: string, dModel: number, layer?: number): Float32Array {
  try {
    return vectorSource(path, dModel, 'vector')(layer);
  } catch (e) {
    throw e instanceof EmlensError ? new UserError(e.detail) : e;
  }
}
