// Small tensor helpers shared by the adapters and the trainer.
// No axes of their own.
import * as tf from '@tensorflow/tfjs';

/** The trainable variables among the given tensors (undefined entries skipped). */
export function variablesIn(ts: (tf.Tensor | undefined)[]): tf.Variable[] {
  return ts.filter((t) => t instanceof tf.Variable) as unknown as tf.Variable[];
}

/** A variable from an initial value computed in a tidy scope (so the initial tensor is not left behind). */
export function newVariable<T extends tf.Tensor>(init: () => T, name: string, trainable = true): T {
  return tf.tidy(() => tf.variable(init(), trainable, name)) as unknown as T;
}

/**
 * The values of a tensor made by `make` (its intermediates and itself freed), e.g. a transposed copy. Not
 * `tf.tidy(() => t.dataSync())`: tidy walks what its function returns, index by index for a typed array (1.1 s of a
 * 16 s full fine-tune went to that walk when its checkpoints were written that way).
 */
export function readValues(make: () => tf.Tensor): Float32Array {
  const t = tf.tidy(make);
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

/** readValues as nested arrays (arraySync). */
export function readArray<T>(make: () => tf.Tensor): T {
  const t = tf.tidy(make);
  try {
    return t.arraySync() as T;
  } finally {
    t.dispose();
  }
}
