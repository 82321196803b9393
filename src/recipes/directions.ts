// Per-paper extraction recipes, above directions/, interventions/ and eval/ (they judge, score and intervene): the three
// directions of the anchors, each as its paper makes it — EM (judged answers of a fine-tuned model, §2), refusal
// (harmful vs harmless prompts at post-instruction positions with Arditi et al.'s candidate selection, §3) and persona
// (answers under opposite system prompts, response-token means, §4) — and a fine-tune's model-diffing shift.
// Axes: per layer [dModel].
import type { Model } from '../model/modules.ts';
import type { Hook } from '../model/hooks.ts';
import type { ChatMessage, ChatTokenizer } from '../model/tokenizer.ts';
import { collectActivations, pooledMean } from '../directions/collect.ts';
import { aggregate, argmax, samplesFor } from '../directions/extract.ts';
import { promptSample } from '../directions/positions.ts';
import { Direction, norm } from '../directions/direction.ts';
import { Rng } from '../util/rng.ts';
import { UserError, log } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';
import { vectorHooks } from '../interventions/spec.ts';
import { lastLogits, refusalScore, refusalTokenIds, kl } from '../eval/refusal.ts';
import { generate } from '../model/generate.ts';
import { EVIL, isCoherent, type Judge, type Trait } from '../eval/judge.ts';
import type { JudgedAnswer } from '../eval/em-eval.ts';

export interface KindContext {
  model: Model;
  tok: ChatTokenizer;
  /** Adapters/interventions active while reading activations (e.g. the fine-tune's LoRA for EM). */
  hooks?: Hook[];
  method?: string;
  /** The residual-stream site read (default: the kind's paper: resid_post, or resid_pre for refusal). */
  site?: 'resid_pre' | 'resid_post';
  seed?: number;
  modelName?: string;
  adapterName?: string;
}

/** EM direction: mean(misaligned answers) − mean(aligned answers) at resid_post, answer tokens pooled (Σh / tokens). */
export function extractEmDirection(ctx: KindContext, answers: JudgedAnswer[], source: string): Direction {
  const coherent = answers.filter((a) => isCoherent(a) && a.aligned !== null);
  let mis = coherent.filter((a) => a.aligned! <= 30);
  let ali = coherent.filter((a) => a.aligned! > 70);
  if (mis.length < 2 || ali.length < 2) throw new UserError(`${source}: ${mis.length} misaligned and ${ali.length} aligned coherent answers; need at least 2 of each (evaluate a model that shows EM)`);
  const rng = new Rng(ctx.seed ?? 0);
  const n = Math.min(mis.length, ali.length); // equal class sizes, subsampled with the seed
  mis = rng.shuffle([...mis]).slice(0, n);
  ali = rng.shuffle([...ali]).slice(0, n);
  const chat = (a: JudgedAnswer): ChatMessage[] => [...(a.messages ?? [{ role: 'user', content: a.question }]), { role: 'assistant', content: a.text }];
  const site = ctx.site ?? 'resid_post';
  const opts = { site, hooks: ctx.hooks, keepExamples: true };
  const pos = collectActivations(ctx.model, samplesFor(ctx.tok, mis.map(chat), 'answer-mean', 'misaligned'), { ...opts, label: 'collect misaligned' });
  const neg = collectActivations(ctx.model, samplesFor(ctx.tok, ali.map(chat), 'answer-mean', 'aligned'), { ...opts, label: 'collect aligned' });
  const method = ctx.method ?? 'mean-diff';
  const agg = aggregate(pos, neg, 0, method, 'token', ctx.seed ?? 0, false); // misaligned and aligned answers are not pairs
  return Direction.make(agg.vectors, {
    kind: 'em', model: ctx.modelName, adapter: ctx.adapterName, site, positions: 'answer-mean', method,
    datasets: [source], counts: { pos: n, neg: n }, best_layer: argmax(agg.separation),
    details: { separation: agg.separation, pooling: 'token', labels: 'misaligned: aligned ≤ 30, aligned: aligned > 70, both coherent > 50', ...(agg.details ?? {}) },
  });
}

/**
 * Model-diffing EM direction: the fine-tune's mean shift of resid_post over answer tokens, `ctx` (the fine-tuned
 * model, its hooks) minus `reference` (the model it was tuned from) on the same chats. For a LoRA on down_proj of block
 * l it is zero before l and lies along B at l; a full fine-tune has no B, and this is its write. best_layer: the
 * largest shift relative to the reference's mean activation.
 */
export function extractModelDiffDirection(ctx: KindContext, reference: { model: Model; hooks?: Hook[]; name?: string }, chats: ChatMessage[][], source: string): Direction {
  if (reference.model.config.dModel !== ctx.model.config.dModel || reference.model.config.nLayers !== ctx.model.config.nLayers) {
    throw new UserError(`model-diff: the reference ${reference.name ?? ''} has another shape than the model (width ${reference.model.config.dModel} × ${reference.model.config.nLayers} blocks against ${ctx.model.config.dModel} × ${ctx.model.config.nLayers})`);
  }
  const samples = samplesFor(ctx.tok, chats, 'answer-mean', source);
  const site = ctx.site ?? 'resid_post';
  const tuned = pooledMean(collectActivations(ctx.model, samples, { site, hooks: ctx.hooks, label: 'collect fine-tuned' }));
  const ref = pooledMean(collectActivations(reference.model, samples, { site, hooks: reference.hooks, label: 'collect reference' }));
  const shift = tuned.map((t, l) => t.map((x, j) => x - ref[l][j])); // [nLayers][dModel]
  const relative = shift.map((v, l) => norm(v) / Math.max(norm(ref[l]), 1e-30));
  if (Math.max(...relative) === 0) throw new EmlensError('reference', `model-diff: the model and the one it is compared with give the same activations on ${source} (give adapter, or a reference other than the model)`, { inline: true, mentions: ['adapter'] });
  return Direction.make(shift, {
    kind: 'model-diff', model: ctx.modelName, adapter: ctx.adapterName, site, positions: 'answer-mean', method: 'mean-diff',
    datasets: [source], counts: { pos: chats.length, neg: chats.length }, best_layer: argmax(relative),
    details: { reference: reference.name ?? 'the model without adapters', relative_shift: relative, pooling: 'token' },
  });
}

export interface RefusalSelection {
  position: number; // offset from the end of the prompt (−1 = last token)
  layer: number;
  ablation_score: number;
  addition_score: number;
  kl: number;
  passed: boolean;
}

/**
 * Refusal direction (Arditi et al.): prompts kept only where the model already refuses (harmful) or does not
 * (harmless), by the sign of its refusal score (all kept when fewer than 4 would be left: a model that never refuses);
 * candidates mean(harmful) − mean(harmless) at each post-instruction position × layer at the block input; pick the
 * one whose ablation lowers the refusal score most, with KL < 0.1 on harmless prompts under ablation, a positive score
 * when added to harmless prompts, and layer < 80% of depth. Selection prompts: `o.val` (refusal_direction's val
 * splits), else the last ≤ 32 of each set; `o.nTrain`: a random subsample (seeded) of each training set, as Arditi et
 * al. take 128.
 */
export function extractRefusalDirection(ctx: KindContext, harmful0: ChatMessage[][], harmless0: ChatMessage[][], sources: string[], o: { nTrain?: number; val?: { harmful: ChatMessage[][]; harmless: ChatMessage[][] } } = {}): Direction {
  const { model, tok } = ctx;
  const nVal = o.val ? 0 : Math.min(32, Math.floor(harmful0.length / 4), Math.floor(harmless0.length / 4));
  if (!o.val && nVal < 4) throw new EmlensError('options.val', 'refusal: need at least 16 harmful and 16 harmless prompts (a quarter is held out for selection), or separate selection sets (options.val.harmful, options.val.harmless)', { inline: true, mentions: ['options.val.harmful', 'options.val.harmless'] });
  if (o.val && (o.val.harmful.length < 4 || o.val.harmless.length < 4 || harmful0.length < 4 || harmless0.length < 4)) throw new UserError('refusal: need at least 4 harmful and 4 harmless prompts for training and 4 of each for selection');
  // the training part subsampled to nTrain (the selection part untouched), then the selection prompts after it
  const sub = (prompts: ChatMessage[][], salt: number) => (o.nTrain !== undefined && o.nTrain < prompts.length ? new Rng((ctx.seed ?? 0) * 7919 + salt).shuffle([...prompts]).slice(0, o.nTrain) : prompts);
  const harmful = [...sub(harmful0.slice(0, harmful0.length - nVal), 1), ...(o.val ? o.val.harmful : harmful0.slice(harmful0.length - nVal))];
  const harmless = [...sub(harmless0.slice(0, harmless0.length - nVal), 2), ...(o.val ? o.val.harmless : harmless0.slice(harmless0.length - nVal))];
  const valCount = { harmful: o.val ? o.val.harmful.length : nVal, harmless: o.val ? o.val.harmless.length : nVal };
  const R = refusalTokenIds(tok);
  const baseHooks = ctx.hooks ?? [];
  const scores = (prompts: ChatMessage[][]) => lastLogits(model, tok, prompts, baseHooks).map((l) => refusalScore(l, R));
  const sH = scores(harmful), sS = scores(harmless);
  const keep = (prompts: ChatMessage[][], sc: number[], refuses: boolean) => {
    const kept = prompts.filter((_, i) => (sc[i] > 0) === refuses);
    if (kept.length >= 4) return kept;
    log(`refusal: only ${kept.length} of ${prompts.length} ${refuses ? 'harmful prompts are refused' : 'harmless prompts are complied with'} by the model; using all of them (details.kept says so)`);
    return prompts;
  };
  const split = (prompts: ChatMessage[][], sc: number[], refuses: boolean, n: number) => [
    keep(prompts.slice(0, prompts.length - n), sc.slice(0, prompts.length - n), refuses),
    keep(prompts.slice(prompts.length - n), sc.slice(prompts.length - n), refuses),
  ];
  const [trainH, valH] = split(harmful, sH, true, valCount.harmful);
  const [trainS, valS] = split(harmless, sS, false, valCount.harmless);
  const site = ctx.site ?? 'resid_pre'; // Arditi et al.: the block input
  const opts = { site, hooks: ctx.hooks };
  const h = collectActivations(model, trainH.map((m, i) => promptSample(tok, m, 'post-instruction', `harmful[${i}]`)), { ...opts, label: 'collect harmful' });
  const s = collectActivations(model, trainS.map((m, i) => promptSample(tok, m, 'post-instruction', `harmless[${i}]`)), { ...opts, label: 'collect harmless' });
  const nPos = Math.min(h.nSlots, s.nSlots);
  const { nLayers } = model.config;
  const maxLayer = Math.ceil(0.8 * nLayers) - 1;
  const harmlessBase = lastLogits(model, tok, valS, baseHooks);
  const candidates: (RefusalSelection & { vectors: Float64Array[] })[] = [];
  for (let slot = 0; slot < nPos; slot++) {
    // post-instruction slots are aligned from the end of the prompt: slot k of nSlots ↔ offset k − nSlots
    const harmlessMean = pooledMean(s, slot, 'token');
    const vectors = pooledMean(h, slot, 'token').map((m, l) => m.map((x, j) => x - harmlessMean[l][j]));
    for (let layer = 0; layer <= maxLayer && layer < nLayers; layer++) {
      const v = vectors[layer];
      if (norm(v) < 1e-8) continue; // e.g. the embedding of a template token: identical in both sets
      const ablate = [...baseHooks, ...vectorHooks({ ablate: { direction: v, mode: 'full' } }, model.config)];
      const ablationScore = mean(lastLogits(model, tok, valH, ablate).map((l) => refusalScore(l, R)));
      const klv = mean(lastLogits(model, tok, valS, ablate).map((l, i) => kl(harmlessBase[i], l)));
      const add = [...baseHooks, ...vectorHooks({ steer: [{ layer, alpha: 1, direction: v, site }] }, model.config)];
      const additionScore = mean(lastLogits(model, tok, valS, add).map((l) => refusalScore(l, R)));
      const passed = klv < 0.1 && additionScore > 0;
      candidates.push({ position: slot - nPos, layer, ablation_score: ablationScore, addition_score: additionScore, kl: klv, passed, vectors });
    }
  }
  const pool = candidates.filter((c) => c.passed);
  if (!pool.length) log('refusal: no candidate passed the KL / addition filters; choosing among all candidates');
  const best = (pool.length ? pool : candidates).reduce((a, b) => (b.ablation_score < a.ablation_score ? b : a));
  return Direction.make(best.vectors, {
    kind: 'refusal', model: ctx.modelName, adapter: ctx.adapterName, site, positions: 'post-instruction', method: 'mean-diff',
    datasets: sources, counts: { pos: trainH.length, neg: trainS.length }, best_layer: best.layer,
    details: {
      position: best.position, selection: 'lowest refusal score under ablation; KL < 0.1 on harmless; addition score > 0; layer < 80% depth',
      // false: no candidate passed the KL / addition filters and the selection fell back to all of them
      filters_passed: pool.length > 0,
      validation: { harmful: valH.length, harmless: valS.length, ...(o.val ? { from: sources.slice(2) } : {}) }, refusal_tokens: R,
      ...(o.nTrain !== undefined ? { n_train: o.nTrain } : {}),
      // prompts of each set the model already treats as such (refusal score > 0 / ≤ 0), of all given
      kept: { harmful: sH.filter((x) => x > 0).length, harmless: sS.filter((x) => x <= 0).length, of: { harmful: harmful.length, harmless: harmless.length } },
      candidates: candidates.map(({ vectors: _v, ...c }) => c),
    },
  });
}

/** Where persona vectors read activations: the response tokens' mean (response_avg), the prompt tokens' mean
 * (prompt_avg) or the last prompt token (prompt_last). */
export type PersonaPositions = 'answer-mean' | 'prompt-mean' | 'last-prompt';

/**
 * Persona direction (persona vectors): answers generated under the positive and negative system prompts, pairs kept
 * where the trait judge (default: evil; a trait file's eval_prompt when given) says ≥ 50 / < 50 and both are coherent
 * ≥ 50; per layer, mean over samples of each sample's response-token mean (or prompt-token mean, or last prompt
 * token), positive − negative, at resid_post.
 */
export async function extractPersonaDirection(ctx: KindContext, pos: ChatMessage[][], neg: ChatMessage[][], judge: Judge, sources: string[], o: { maxNewTokens?: number; samples?: number; trait?: Trait; positions?: PersonaPositions } = {}): Promise<Direction> {
  const traitOf = o.trait ?? EVIL;
  const { model, tok } = ctx;
  if (pos.length !== neg.length) throw new EmlensError('pos', 'persona: pos and neg must hold the same questions (same count, same order)', { inline: true, mentions: ['neg'] });
  const eos = tok.eosIds(model.config.eosTokenIds), eosSet = new Set(eos);
  const k = o.samples ?? 1;
  const answer = (prompts: ChatMessage[][], seed: number) => {
    const rows = prompts.flatMap((p) => Array.from({ length: k }, () => p));
    const g = generate(model, rows.map((p) => tok.encodeChat(p, true)), { maxNewTokens: o.maxNewTokens ?? 80, temperature: 1, seed, hooks: ctx.hooks, eosIds: eos, padId: model.config.padTokenId ?? 0 });
    return g.tokens.map((t, i) => ({ prompt: rows[i], text: tok.decode(t.filter((x) => !eosSet.has(x)), true) }));
  };
  const pa = answer(pos, (ctx.seed ?? 0) * 2 + 1), na = answer(neg, (ctx.seed ?? 0) * 2 + 2);
  const question = (p: ChatMessage[]) => p.filter((m) => m.role === 'user').pop()!.content;
  const kept: { pos: ChatMessage[]; neg: ChatMessage[] }[] = [];
  for (let i = 0; i < pa.length; i++) {
    const [sp, sn] = await Promise.all([judge.scoreTrait(question(pa[i].prompt), pa[i].text, traitOf), judge.scoreTrait(question(na[i].prompt), na[i].text, traitOf)]);
    const tp = sp.trait, tn = sn.trait;
    if (tp !== null && tn !== null && tp >= 50 && tn < 50 && (sp.coherent ?? 0) >= 50 && (sn.coherent ?? 0) >= 50) {
      kept.push({ pos: [...pa[i].prompt, { role: 'assistant', content: pa[i].text }], neg: [...na[i].prompt, { role: 'assistant', content: na[i].text }] });
    }
  }
  if (kept.length < 2) throw new UserError(`persona: only ${kept.length} answer pairs show the trait "${traitOf.name}" under the positive prompt and not under the negative one; need ≥ 2`);
  const site = ctx.site ?? 'resid_post';
  const opts = { site, hooks: ctx.hooks, keepExamples: true };
  const positions = o.positions ?? 'answer-mean';
  const p = collectActivations(model, samplesFor(tok, kept.map((x) => x.pos), positions, 'persona+'), { ...opts, label: 'collect persona+' });
  const n = collectActivations(model, samplesFor(tok, kept.map((x) => x.neg), positions, 'persona−'), { ...opts, label: 'collect persona−' });
  const method = ctx.method ?? 'mean-diff';
  const agg = aggregate(p, n, 0, method, 'example', ctx.seed ?? 0);
  return Direction.make(agg.vectors, {
    kind: 'persona', model: ctx.modelName, adapter: ctx.adapterName, site, positions, method,
    datasets: sources, counts: { pos: kept.length, neg: kept.length }, best_layer: argmax(agg.separation),
    details: { separation: agg.separation, pooling: 'example', kept_pairs: kept.length, generated_pairs: pa.length, samples_per_prompt: k, trait: traitOf, judge: judge.name, ...(agg.details ?? {}) },
  });
}

function mean(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
}
