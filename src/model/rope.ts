// Rotary position embeddings: inverse frequencies for default/linear/llama3/dynamic rope, and cos/sin tables.
// Axes: positions [batch, seq] → cos, sin [batch, 1, seq, dHead] (the halves repeated, as HF's rotate_half expects).
import * as tf from '@tensorflow/tfjs';

export interface RopeSpec {
  type: 'default' | 'linear' | 'llama3' | 'dynamic';
  theta: number;
  /** linear / dynamic / llama3 scaling factor. */
  factor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositions?: number;
}

/** Inverse frequencies [dRot/2], as HF's rope init functions compute them, for a forward whose largest position is maxPos. */
export function inverseFrequencies(spec: RopeSpec, dHead: number, maxPositionEmbeddings: number, maxPos: number): Float32Array {
  const dim = dHead;
  let base = spec.theta;
  if (spec.type === 'dynamic') {
    // HF dynamic NTK (_compute_dynamic_ntk_parameters): grows the base once the sequence outruns
    // config.max_position_embeddings (it reads no original_max_position_embeddings for this type)
    const orig = maxPositionEmbeddings;
    const seqLen = maxPos + 1;
    if (seqLen > orig) {
      const f = spec.factor ?? 1;
      base = base * ((f * seqLen) / orig - (f - 1)) ** (dim / (dim - 2));
    }
  }
  const half = dim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.fround(base ** Math.fround((2 * i) / dim));
  if (spec.type === 'linear') for (let i = 0; i < half; i++) inv[i] = inv[i] / (spec.factor ?? 1);
  if (spec.type === 'llama3') {
    const factor = spec.factor ?? 8, low = spec.lowFreqFactor ?? 1, high = spec.highFreqFactor ?? 4;
    const orig = spec.originalMaxPositions ?? 8192;
    const lowWavelen = orig / low, highWavelen = orig / high;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      let v = wavelen > lowWavelen ? inv[i] / factor : inv[i];
      const smooth = (orig / wavelen - low) / (high - low);
      const smoothed = (1 - smooth) * (v / factor) + smooth * v;
      const isMedium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      inv[i] = Math.fround(isMedium ? smoothed : v);
    }
  }
  return inv;
}

/** cos/sin [batch, 1, seq, dHead] for the given positions (host ints, row-major [batch, seq]). */
export function ropeTables(spec: RopeSpec, dHead: number, maxPositionEmbeddings: number, positions: Int32Array, batch: number, seq: number): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
  let maxPos = 0;
  for (const p of positions) if (p > maxPos) maxPos = p;
  const inv = inverseFrequencies(spec, dHead, maxPositionEmbeddings, maxPos);
  const half = inv.length;
  const cos = new Float32Array(batch * seq * 2 * half);
  const sin = new Float32Array(batch * seq * 2 * half);
  for (let t = 0; t < batch * seq; t++) {
    const p = positions[t];
    for (let i = 0; i < half; i++) {
      const a = Math.fround(p * inv[i]); // HF multiplies in float32
      const c = Math.cos(a), s = Math.sin(a);
      cos[t * 2 * half + i] = c;
      cos[t * 2 * half + half + i] = c;
      sin[t * 2 * half + i] = s;
      sin[t * 2 * half + half + i] = s;
    }
  }
  return {
    cos: tf.tensor4d(cos, [batch, 1, seq, 2 * half]),
    sin: tf.tensor4d(sin, [batch, 1, seq, 2 * half]),
  };
}

/** x·cos + rotate_half(x)·sin on x [batch, heads, seq, dHead]. */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const d = x.shape[3];
    const half = d / 2;
    const x1 = x.slice([0, 0, 0, 0], [-1, -1, -1, half]);
    const x2 = x.slice([0, 0, 0, half], [-1, -1, -1, half]);
    const rotated = tf.concat([tf.neg(x2), x1], 3);
    return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
  });
}
