// The project's one statement of how layers are numbered: directions' provenance, every analysis report's
// `conventions` and the charts' captions all quote this constant. No tensor axes.

/** Layers are decoder blocks, 0-based; resid_pre(l) is block l's input, resid_post(l) its output (HF hidden_states). */
export const LAYER_CONVENTION = 'decoder blocks, 0-based; resid_pre(l) = hidden_states[l], resid_post(l) = hidden_states[l+1]' as const;
