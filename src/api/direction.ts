// The scripting Direction: the library's Direction (per-layer vectors + provenance) with contrast extraction and
// steer / ablate returning hooks through the one intervention spec. Axes: vectors [nLayers][dModel].
import { Direction as DirectionData, type PositionRule } from '../directions/direction.ts';
import { extractContrast } from '../directions/extract.ts';
import { AGGREGATORS } from '../directions/aggregators.ts';
import { readChatJsonl } from '../train/data.ts';
import type { Hook, HookSite } from '../model/hooks.ts';
import type { ChatMessage } from '../model/tokenizer.ts';
import { vectorHooks } from '../interventions/spec.ts';
import type { AblationMode } from '../interventions/ablate.ts';
import { EmlensError } from '../util/errors.ts';
import type { LanguageModel } from './language-model.ts';

/** Examples of one side of a contrast: a JSONL chat file, chats, or texts (each sent as one user message). */
export type ContrastSet = string | ChatMessage[][] | string[];

export interface ContrastOptions {
  /** Default resid_post. */
  site?: HookSite;
  /** Default 'last-prompt' for prompts, 'answer-mean' when the chats end with an assistant answer. */
  positions?: PositionRule;
  /** mean-diff (default), pca or probe. */
  method?: string;
  hooks?: Hook[];
  seed?: number;
}

export class Direction extends DirectionData {
  /** The library's Direction (e.g. from Direction.load, or arithmetic) with steer / ablate. */
  static from(d: DirectionData): Direction {
    return new Direction(d.vectors, d.provenance);
  }

  static override load(...args: Parameters<typeof DirectionData.load>): Direction {
    return Direction.from(DirectionData.load(...args));
  }

  // arithmetic keeps steer / ablate: `happy.scale(0.5).sub(sad).steer(…)`
  override scale(k: number): Direction {
    return Direction.from(super.scale(k));
  }

  override neg(): Direction {
    return Direction.from(super.neg());
  }

  override add(o: DirectionData): Direction {
    return Direction.from(super.add(o));
  }

  override sub(o: DirectionData): Direction {
    return Direction.from(super.sub(o));
  }

  override normalize(): Direction {
    return Direction.from(super.normalize());
  }

  /** pos − neg per layer at `site` (best layer: the largest separation), from two sets of prompts or chats. */
  static contrast(lm: LanguageModel, pos: ContrastSet, neg: ContrastSet, o: ContrastOptions = {}): Direction {
    const method = o.method ?? 'mean-diff';
    if (!(method in AGGREGATORS)) throw new EmlensError('options.method', `${method}: expected one of ${Object.keys(AGGREGATORS).join(', ')}`);
    const p = chats(pos, 'pos'), n = chats(neg, 'neg');
    const answered = p.every((c) => c[c.length - 1]?.role === 'assistant') && n.every((c) => c[c.length - 1]?.role === 'assistant');
    const d = extractContrast(lm.model, lm.tokenizer, p, n, { site: o.site ?? 'resid_post', positions: o.positions ?? (answered ? 'answer-mean' : 'last-prompt'), method, hooks: o.hooks, seed: o.seed }, {
      kind: 'contrast', model: lm.dir, datasets: [pos, neg].map((s) => (typeof s === 'string' ? s : 'in-memory')),
    });
    return Direction.from(d);
  }

  /**
   * Hooks adding α·v to resid_post of block `layer` at every position; v is row `row` of this direction (default its
   * best layer, as `--steer L:α:FILE` reads it; `row: layer` for the block's own row).
   */
  steer(layer: number, alpha: number, o: { row?: number } = {}): Hook[] {
    return vectorHooks({ steer: [{ direction: this, layer, alpha, row: o.row }] }, { nLayers: this.nLayers, dModel: this.dModel });
  }

  /** Hooks projecting row `row` (default the best layer) out of resid_pre and resid_post ('full': and attention/MLP outputs) of `layers` (default every block). */
  ablate(o: { mode?: AblationMode; row?: number; layers?: number[] } = {}): Hook[] {
    return vectorHooks({ ablate: { direction: this, mode: o.mode, row: o.row, layers: o.layers } }, { nLayers: this.nLayers, dModel: this.dModel });
  }
}

function chats(set: ContrastSet, param: string): ChatMessage[][] {
  if (typeof set === 'string') return readChatJsonl(set, { requireAssistant: false }).map((e) => e.messages);
  if (!Array.isArray(set) || !set.length) throw new EmlensError(param, 'expected a JSONL file, chats or texts (at least one)');
  return set.map((x) => (typeof x === 'string' ? [{ role: 'user', content: x }] : x));
}
