// What an architecture family declares: the model_type names it answers to and its quirks.
// The shared decoder (model/transformer.ts) reads these flags; no forward code checks family names.
export type FamilyName = 'llama' | 'qwen2' | 'qwen3' | 'gemma2' | 'gemma3';

export interface Quirks {
  /** q/k/v biases regardless of attention_bias (qwen2); undefined: follow attention_bias. */
  qkvBias?: boolean;
  oBias?: boolean;
  qkNorm: boolean;
  normPlusOne: boolean;
  sandwichNorms: boolean;
  tieDefault: boolean;
  /** Applies attn_logit_softcapping (gemma2). HF's Gemma 3 reads but never applies it. */
  attnSoftcapping?: boolean;
  /** Default base of the sliding layers' rope when config.json names none (gemma3: 10000). */
  localRopeDefault?: number;
}

export interface Family {
  name: FamilyName;
  modelTypes: string[];
  quirks(raw: Record<string, unknown>): Quirks;
  /** transformers' config-class defaults, read where config.json leaves a key out (as from_pretrained does). */
  configDefaults: Record<string, unknown>;
}
