// Hook points: TransformerLens names for the activations the decoder exposes, and the hook signature.
// Axes: resid_* [batch, seq, dModel]; attn.hook_z [batch, seq, nHeads*dHead]; mlp.hook_post [batch, seq, dMlp].
import type * as tf from '@tensorflow/tfjs';

export type HookSite = 'resid_pre' | 'resid_mid' | 'resid_post' | 'attn_out' | 'mlp_out' | 'z' | 'mlp_post';

export type HookName =
  | 'hook_embed'
  | 'ln_final.hook_normalized'
  | `blocks.${number}.hook_resid_pre`
  | `blocks.${number}.hook_resid_mid`
  | `blocks.${number}.hook_resid_post`
  | `blocks.${number}.hook_attn_out`
  | `blocks.${number}.hook_mlp_out`
  | `blocks.${number}.attn.hook_z`
  | `blocks.${number}.mlp.hook_post`;

/** Builders: call sites never concatenate hook names by hand. */
export const hookNames = {
  embed: (): HookName => 'hook_embed',
  finalNorm: (): HookName => 'ln_final.hook_normalized',
  residPre: (l: number): HookName => `blocks.${l}.hook_resid_pre`,
  residMid: (l: number): HookName => `blocks.${l}.hook_resid_mid`,
  residPost: (l: number): HookName => `blocks.${l}.hook_resid_post`,
  attnOut: (l: number): HookName => `blocks.${l}.hook_attn_out`,
  mlpOut: (l: number): HookName => `blocks.${l}.hook_mlp_out`,
  z: (l: number): HookName => `blocks.${l}.attn.hook_z`,
  mlpPost: (l: number): HookName => `blocks.${l}.mlp.hook_post`,
  site: (site: HookSite, l: number): HookName => SITE_BUILDERS[site](l),
};

const SITE_BUILDERS: Record<HookSite, (l: number) => HookName> = {
  resid_pre: hookNames.residPre,
  resid_mid: hookNames.residMid,
  resid_post: hookNames.residPost,
  attn_out: hookNames.attnOut,
  mlp_out: hookNames.mlpOut,
  z: hookNames.z,
  mlp_post: hookNames.mlpPost,
};

export const HOOK_SITES = Object.keys(SITE_BUILDERS) as HookSite[];

/** The width of a site's activations (its last axis): dModel on the residual stream and block outputs. */
export function siteWidth(cfg: { dModel: number; nHeads: number; dHead: number; dMlp: number }, site: HookSite): number {
  if (site === 'z') return cfg.nHeads * cfg.dHead;
  if (site === 'mlp_post') return cfg.dMlp;
  return cfg.dModel;
}

/** Every hook name a model with nLayers blocks emits, in the order the forward pass reaches them. */
export function allHookNames(nLayers: number): HookName[] {
  const names: HookName[] = [hookNames.embed()];
  for (let l = 0; l < nLayers; l++) {
    names.push(hookNames.residPre(l), hookNames.z(l), hookNames.attnOut(l), hookNames.residMid(l), hookNames.mlpPost(l), hookNames.mlpOut(l), hookNames.residPost(l));
  }
  names.push(hookNames.finalNorm());
  return names;
}

const HOOK_RE = /^(hook_embed|ln_final\.hook_normalized|blocks\.(\d+)\.(hook_resid_pre|hook_resid_mid|hook_resid_post|hook_attn_out|hook_mlp_out|attn\.hook_z|mlp\.hook_post))$/;

export function isHookName(s: string, nLayers?: number): s is HookName {
  const m = HOOK_RE.exec(s);
  if (!m) return false;
  return m[2] === undefined || nLayers === undefined || Number(m[2]) < nLayers;
}

export interface HookContext {
  name: HookName;
  /** Block index, or -1 for hook_embed / ln_final. */
  layer: number;
  /** Absolute positions of the rows, [batch][seq] flattened row-major. */
  positions: Int32Array;
  /**
   * 'prefill' for a full forward, 'decode' for a cached generation step. A decode step's batch may hold fewer rows
   * than the prompts: generate() drops rows that have ended once a quarter of its batch has.
   */
  phase: 'prefill' | 'decode';
  /**
   * At the sites inside block `layer` (z … resid_post): the block's input [batch, seq, dModel], resid_pre after all
   * of its hooks: the value the block computes from, for a hook that reads it (the gates). Undefined elsewhere.
   */
  blockInput?: tf.Tensor3D;
}

/** A hook reads an activation and may return a replacement of the same shape. */
export type HookFn = (x: tf.Tensor, ctx: HookContext) => tf.Tensor | void;

export interface Hook {
  name: HookName;
  fn: HookFn;
}
