// AdamW with decoupled weight decay (PyTorch's update, step for step), the linear warm-up/decay schedule of HF,
// and global-norm gradient clipping. Axes: every moment has its variable's shape.
import * as tf from '@tensorflow/tfjs';
import { newVariable } from '../util/tensors.ts';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which variables are left out of weight decay: `isBias` (default; the organism's build recipe), or `hfNoDecay`. */
  noDecay?: (name: string) => boolean;
}

export class AdamW {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  step = 0;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;
  private readonly noDecay: (name: string) => boolean;

  constructor(readonly vars: tf.Variable[], o: AdamWOptions = {}) {
    this.b1 = o.beta1 ?? 0.9;
    this.b2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.wd = o.weightDecay ?? 0.01;
    this.noDecay = o.noDecay ?? isBias;
    for (const p of vars) {
      this.m.set(p.name, newVariable(() => tf.zerosLike(p), `${p.name}/adam_m`, false) as unknown as tf.Variable);
      this.v.set(p.name, newVariable(() => tf.zerosLike(p), `${p.name}/adam_v`, false) as unknown as tf.Variable);
    }
  }

  /** torch.optim.AdamW: p ← p(1 − lr·wd) (not for the `noDecay` group); m, v moments; p ← p − lr/bc1 · m / (√v/√bc2 + eps). */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.step++;
    const bc1 = 1 - this.b1 ** this.step;
    const bc2 = 1 - this.b2 ** this.step;
    tf.tidy(() => {
      for (const p of this.vars) {
        const g = grads.get(p.name);
        if (!g) continue;
        const m = this.m.get(p.name)!, v = this.v.get(p.name)!;
        m.assign(tf.add(tf.mul(m, this.b1), tf.mul(g, 1 - this.b1)));
        v.assign(tf.add(tf.mul(v, this.b2), tf.mul(tf.square(g), 1 - this.b2)));
        const decayed = this.wd && !this.noDecay(p.name) ? tf.mul(p, 1 - lr * this.wd) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), this.eps);
        p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
      }
    });
  }

  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
  }
}

/** HF get_linear_schedule_with_warmup: lr·t/W during warm-up, then linear decay to 0 at the last step. */
export function linearSchedule(baseLr: number, warmup: number, totalSteps: number): (step: number) => number {
  return (step) => {
    if (step < warmup) return (baseLr * step) / Math.max(1, warmup);
    return baseLr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
  };
}

/** Global L2 norm of the gradients and, when it exceeds maxNorm, the gradients scaled by maxNorm / (norm + 1e-6). */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = Math.sqrt(tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
  if (!(maxNorm > 0) || norm <= maxNorm) return { grads, norm };
  const coef = maxNorm / (norm + 1e-6);
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) {
    out.set(k, tf.mul(g, coef));
    g.dispose();
  }
  return { grads: out, norm };
}

/** A bias among our trainable variables (a gate's b: `gate.L.b`): HF Trainer puts biases in the group without weight decay. */
export function isBias(name: string): boolean {
  return /(^|\.)(b|bias)$/.test(name);
}

/**
 * HF Trainer's group without weight decay (get_decay_parameter_names): every bias and every norm weight, by the same
 * patterns over the lower-cased HF name (bias, layernorm, rmsnorm, a `norm` or `_norm` component); embeddings and the
 * LM head are decayed. Our adapters' own names (a gate's `gate.L.b`) by isBias.
 */
export function hfNoDecay(name: string): boolean {
  const n = name.toLowerCase();
  return isBias(name) || /bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)/.test(n);
}
