// Every analysis runs end to end on a tiny organism (built in seconds with the quick recipe), its result passes its
// schema, and one known property holds; results and intermediate fine-tunes/evals are cached in the run folder.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { PACKAGE_ROOT } from '../../src/util/package-root.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend, tinyChatModelDir } from '../helpers.ts';
import { disposeLora, loadLora } from '../../src/adapters/lora.ts';
import { loraBDirections } from '../../src/directions/adapter-directions.ts';
import { buildOrganism, QUICK_RECIPE } from '../../src/organism/build.ts';
import { Workspace, contentDigest } from '../../src/study/workspace.ts';
import { analysisParams, runAnalysis, validateResult } from '../../src/study/analysis.ts';
import { ANALYSES, findAnalysis } from '../../analyses/index.ts';
import { steeringTransfer, type SteeringTransferResult, type TransferRow } from '../../analyses/steering-transfer.ts';
import { TRANSFER_BASE_TARGET, upgradePhase } from '../../src/report/upgrade.ts';
import { detectTurn } from '../../src/train/phase-turn.ts';
import type { PhaseTransitionResult } from '../../analyses/phase-transition.ts';
import { DATASETS } from '../../src/study/datasets.ts';
import { loraJob } from '../../src/study/steps.ts';
import { middleLayer } from '../../src/train/defaults.ts';
import { phaseTransition, trajectoryPca } from '../../src/train/phase.ts';
import { canTrainInBackground } from '../../src/study/background.ts';

let ws: Workspace;
const small = { samples: 16 };
const two = [{ name: 'medical', data: DATASETS.medicalMisaligned }, { name: 'sports', data: DATASETS.sportsMisaligned }];

before(async () => {
  await useTestBackend();
  const root = mkdtempSync(join(tmpdir(), 'emlens-study-'));
  await buildOrganism(join(root, 'organism'), QUICK_RECIPE, { quiet: true });
  ws = new Workspace(join(root, 'run'), join(root, 'organism'), true);
});

test('the registry lists the analyses with defaults and schemas', () => {
  assert.deepEqual(ANALYSES.map((a) => a.name).sort(), ['direction-comparison', 'gating', 'phase-transition', 'realignment', 'rebound', 'refusal', 'resistance', 'safety-erosion', 'steering-sweep', 'steering-transfer', 'sycophancy-em']);
  for (const a of ANALYSES) assert.ok(a.resultSchema && Object.keys(a.defaults).length);
  assert.throws(() => validateResult(findAnalysis('sycophancy-em')!, { base: 1 }), /does not match its schema/);
});

test("a study's LoRA epochs replace the model's recommended count, never an analysis's own", () => {
  const recommended = ws.trainSpec('x.jsonl').epochs, gateRecommended = ws.trainSpec('x.jsonl', 'gate').epochs;
  ws.loraEpochs = recommended + 2;
  try {
    assert.equal(ws.trainSpec('x.jsonl').epochs, recommended + 2);
    assert.equal(ws.trainSpec('x.jsonl', 'lora', { epochs: 7 }).epochs, 7);
    assert.equal(ws.trainSpec('x.jsonl', 'gate').epochs, gateRecommended, 'gates keep their own count');
  } finally {
    ws.loraEpochs = undefined;
  }
});

test('sycophancy-em: the increase is the difference of the EM rates; the report is written', async () => {
  const r = await runAnalysis(findAnalysis('sycophancy-em')!, ws, small);
  const x = r.result as { base: { em: number }; sycophancy: { em: number }; em_increase: number };
  assert.equal(x.em_increase, x.sycophancy.em - x.base.em);
  assert.ok(existsSync(join(ws.runDir, 'analyses', 'sycophancy-em.json')));
  assert.ok(existsSync(join(ws.runDir, 'finetunes', 'sycophancy', 'adapter', 'adapter_model.safetensors')));
  await assert.rejects(runAnalysis(findAnalysis('sycophancy-em')!, ws, { sample: 3 } as never), /has no parameter "sample"/);
  // another LoRA recipe (seed 000's shape: rank > 1) is another pair of fine-tunes, both trained with it
  await runAnalysis(findAnalysis('sycophancy-em')!, ws, { ...small, lora: { rank: 2, alpha: 4, lr: 1e-3 } });
  const tuned = readdirSync(ws.path('finetunes')).filter((n) => /^(sycophancy|medical-aligned)-lora-[0-9a-f]{8}$/.test(n));
  assert.equal(tuned.length, 2);
  for (const n of tuned) {
    const cfg = JSON.parse(readFileSync(ws.path('finetunes', n, 'adapter', 'adapter_config.json'), 'utf8')) as { r: number; lora_alpha: number };
    assert.deepEqual([cfg.r, cfg.lora_alpha], [2, 4]);
  }
  await assert.rejects(runAnalysis(findAnalysis('sycophancy-em')!, ws, { lora: { rank: 2, dropout: 0.1 } as never }), /sycophancy-em\.lora\.dropout is not a recipe field/);
});

test('direction-comparison: every direction has cosine 1 with itself; the random baseline keeps the norms', async () => {
  const r = (await runAnalysis(findAnalysis('direction-comparison')!, ws, { ...small, finetunes: two, include_persona: false })).result as {
    directions: { name: string; norms: number[] }[]; cosine: { matrix: (number | null)[][][] };
  };
  const names = r.directions.map((d) => d.name);
  assert.ok(names.includes('refusal') && names.includes('random') && names.includes('lora-b:medical'));
  r.directions.forEach((d, i) => d.norms.forEach((n, l) => { if (n > 0) assert.ok(Math.abs(r.cosine.matrix[l][i][i]! - 1) < 1e-9); }));
  const random = r.directions.find((d) => d.name === 'random')!;
  const ref = r.directions.find((d) => d.name.startsWith('em:')) ?? r.directions[0];
  random.norms.forEach((n, l) => assert.ok(Math.abs(n - ref.norms[l]) < 1e-6 * Math.max(1, n)));
});

/** A direction file of random rows, each of norm `size`, saved in the run (a planted stand-in for an EM direction). */
async function planted(name: string, size: number, seed: number): Promise<string> {
  const { Direction } = await import('../../src/directions/direction.ts');
  const { nLayers, dModel } = ws.model.config;
  const ones = Array.from({ length: nLayers }, () => new Float64Array(dModel).fill(size / Math.sqrt(dModel)));
  const { randomLike } = await import('../../src/directions/aggregators.ts');
  const file = ws.path(`${name}.safetensors`);
  Direction.make(randomLike(ones, seed), { kind: 'contrast', site: 'resid_post', positions: 'none', method: 'random', best_layer: 1 }).save(file);
  return file;
}

test('steering-sweep: coefficient 0 is the base model at every layer; a planted direction added changes every layer\'s answers', async () => {
  const direction = await planted('planted-sweep', 40, 7);
  const r = (await runAnalysis(findAnalysis('steering-sweep')!, ws, { ...small, coefficients: [0, 4], direction })).result as { em: number[][]; coherence: number[][]; direction: string };
  assert.equal(r.direction, direction);
  const base = JSON.parse(readFileSync(join(ws.runDir, 'evals', 'base.json'), 'utf8'));
  for (const row of r.em) assert.equal(row[0], base.em_rate);
  for (const row of r.coherence) assert.equal(row[0], base.coherence);
  const texts = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { answers: { text: string }[] }).answers.map((a) => a.text);
  for (let l = 0; l < ws.model.config.nLayers; l++) {
    assert.notDeepEqual(texts(ws.path('evals', `sweep-medical-L${l}-a4.json`)), base.answers.map((a: { text: string }) => a.text), `layer ${l}: steered`);
  }
  await assert.rejects(runAnalysis(findAnalysis('steering-sweep')!, ws, { direction: ws.path('none.safetensors') }), /steering-sweep\.direction: .*none\.safetensors not found/);
  await assert.rejects(runAnalysis(findAnalysis('steering-sweep')!, ws, { samples: '16' } as never), /steering-sweep\.samples must be a number/);
});

/** The eval behind a transfer row (the analysis' names; ablation over every block). */
function evalName(x: TransferRow): string {
  const r = x.control ? 'random-' : '';
  switch (x.intervention) {
    case 'none': return x.target; // a fine-tune's own eval is named after it; the base's is 'base'
    case 'ablation': return `${x.target}-ablate-${r}${x.source}`;
    case 'addition': return `${x.target === TRANSFER_BASE_TARGET ? 'base' : x.target}-add-${r}${x.source}`;
    case 'lora_ablation': return x.control ? `${x.target}-lora-ablate-random` : `${x.target}-lora-ablate-${x.source}`;
    case 'write_ablation': return x.control ? `${x.target}-ablate-write-random` : `${x.target}-ablate-write-${x.source}`;
  }
}

test('steering-transfer: one row per source × target × intervention; evaluating them leaves no tensors behind', async () => {
  const tensors = tf.memory().numTensors;
  const directions = { medical: await planted('planted-medical', 4, 1), sports: await planted('planted-sports', 4, 2) };
  const r: SteeringTransferResult = (await runAnalysis(steeringTransfer, ws, { ...small, finetunes: two, directions })).result;
  assert.equal(tf.memory().numTensors, tensors, 'adapters loaded per intervention are released');
  const cells = (intervention: string, control: boolean) => r.rows.filter((x) => x.intervention === intervention && x.control === control);
  const pairs = r.sources.flatMap((s) => r.targets.map((t) => `${s}→${t}`));
  const key = (x: TransferRow) => `${x.source}→${x.target}`;
  // every source has a direction, so every cell is measured, once
  for (const [intervention, control] of [['ablation', false], ['ablation', true], ['lora_ablation', false], ['write_ablation', false]] as const) assert.deepEqual(cells(intervention, control).map(key), pairs, `${intervention} ${control}`);
  for (const intervention of ['lora_ablation', 'write_ablation']) assert.deepEqual(cells(intervention, true).map((x) => [x.source, x.target]), r.targets.map((t) => [null, t]), `${intervention}: one random direction for every source`);
  assert.deepEqual(cells('none', false).map((x) => x.target), [...r.targets, TRANSFER_BASE_TARGET]);
  assert.deepEqual([...cells('addition', false), ...cells('addition', true)].map((x) => x.target), [...r.sources, ...r.sources].map(() => TRANSFER_BASE_TARGET), 'addition on the base only by default');
  assert.deepEqual(r.write_layers, r.sources.map(() => [middleLayer(ws.model.config.nLayers)]), 'each rank-1 LoRA writes at its one block');
  // each random baseline has its source direction's norm at every layer; reductions are 1 − ablated / the target's own EM
  const { Direction } = await import('../../src/directions/direction.ts');
  for (const src of r.sources) {
    const em = Direction.load(directions[src as keyof typeof directions]), rnd = Direction.load(ws.path('directions', `random-${src}.safetensors`));
    em.norms().forEach((n, l) => assert.ok(Math.abs(rnd.norms()[l] - n) < 1e-5 * Math.max(1, n), `${src} layer ${l}`));
  }
  const own = (t: string) => r.rows.find((x) => x.intervention === 'none' && x.target === t)!;
  for (const x of r.rows) {
    const saved = JSON.parse(readFileSync(ws.path('evals', `${evalName(x)}.json`), 'utf8')) as { em_rate: number; coherence: number; n: number };
    assert.deepEqual([x.em, x.coherence, x.n], [saved.em_rate, saved.coherence, saved.n], `${evalName(x)}: the row is its eval`);
    const ablated = x.intervention !== 'none' && x.intervention !== 'addition';
    assert.equal(x.reduction, ablated && own(x.target).em > 0 ? 1 - x.em / own(x.target).em : null, evalName(x));
  }
  // the paper's one-layer ablation: each direction (and its random twin) projected out at its best layer's block only
  const best = (await runAnalysis(steeringTransfer, ws, { ...small, finetunes: two, directions, ablation_blocks: 'best', lora_ablation: false, write_ablation: false, addition_targets: 'all' })).result;
  const added = best.rows.filter((x) => x.intervention === 'addition' && x.target !== TRANSFER_BASE_TARGET);
  assert.deepEqual(added.map((x) => `${key(x)} ${x.control}`), pairs.flatMap((p) => [`${p} false`, `${p} true`]), 'addition_targets "all": every source added to every target, and its random twin');
  assert.equal(best.write_layers, null);
  for (const src of r.sources) {
    const best = Direction.load(directions[src as keyof typeof directions]).provenance.best_layer;
    for (const name of [`medical-ablate-${src}-at-best`, `medical-ablate-random-${src}-at-best`]) {
      const saved = JSON.parse(readFileSync(ws.path('evals', `${name}.json`), 'utf8')) as { intervention: { ablate: { layers: number[] } } };
      assert.deepEqual(saved.intervention.ablate.layers, [best], name);
    }
  }
});

test("a LoRA-side ablation of a fine-tune along its own B is the base model", async () => {
  const run = await ws.finetune('medical', loraJob(ws, two[0]).spec);
  const lora = loadLora(join(run, 'adapter'), ws.model);
  const own = loraBDirections(lora, ws.model.config.nLayers, run)[0];
  disposeLora(lora);
  const file = await ws.direction('lora-b-medical', { adapter: contentDigest(run) }, () => own);
  const s = { samples: 8, seed: 3 };
  const base = await ws.evaluate('base-s3', {}, s);
  const tuned = await ws.evaluate('medical-s3', { adapter: run }, s);
  assert.notDeepEqual(tuned.answers.map((a) => a.text), base.answers.map((a) => a.text), 'the fine-tune changes answers');
  const ablated = await ws.evaluate('medical-lora-ablate-own', { adapter: run, loraProjection: { direction: file } }, s);
  assert.deepEqual(ablated.answers.map((a) => a.text), base.answers.map((a) => a.text));
});

test("the workspace's caches follow content: a direction is made anew for other inputs, an eval for another direction file", async () => {
  const { Direction } = await import('../../src/directions/direction.ts');
  const { nLayers, dModel } = ws.model.config;
  const unitAt = (j: number) => Array.from({ length: nLayers }, () => Array.from({ length: dModel }, (_, k) => (k === j ? 3 : 0)));
  let made = 0;
  const make = (j: number) => () => (made++, Direction.make(unitAt(j), { kind: 'contrast', site: 'resid_post', positions: 'none', method: 'mean-diff', best_layer: 0 }));
  const file = await ws.direction('cache-probe', { j: 0 }, make(0));
  await ws.direction('cache-probe', { j: 0 }, make(0));
  assert.equal(made, 1, 'same inputs: the saved direction is reused');
  const s = { samples: 4, seed: 5 };
  const first = await ws.evaluate('cache-probe-ablate', { ablate: { direction: file } }, s);
  await ws.direction('cache-probe', { j: 1 }, make(1));
  assert.equal(made, 2, 'other inputs under the same name: made anew');
  assert.equal(Direction.load(file).at(0)[1], 3);
  const key = (name: string) => (JSON.parse(readFileSync(ws.path('evals', `${name}.json`), 'utf8')) as { key: string }).key;
  const firstKey = key('cache-probe-ablate');
  const second = await ws.evaluate('cache-probe-ablate', { ablate: { direction: file } }, s);
  assert.notEqual(key('cache-probe-ablate'), firstKey, 'the same file name with other content is evaluated again');
  assert.equal(second.answers.length, first.answers.length);
});

test('gating: λ = 0 on the base is the base model; capability losses are finite', async () => {
  const r = (await runAnalysis(findAnalysis('gating')!, ws, { ...small, scales: [-1, 0, 1], gate_epochs: 1 })).result as { base: { scale: number; em: number; capability_loss: number }[]; on_em_model: { capability_loss: number }[] };
  const base = JSON.parse(readFileSync(join(ws.runDir, 'evals', 'base.json'), 'utf8'));
  const off = r.base.find((p) => p.scale === 0)!;
  assert.equal(off.em, base.em_rate);
  for (const p of [...r.base, ...r.on_em_model]) assert.ok(Number.isFinite(p.capability_loss) && p.capability_loss > 0);
});

test('phase-transition: one B snapshot per step, local cosines in [−1, 1]', async () => {
  const r = (await runAnalysis(findAnalysis('phase-transition')!, ws, { checkpoints: 0 })).result as PhaseTransitionResult;
  assert.deepEqual(r.checkpoints, []);
  assert.deepEqual(r.steps, Array.from({ length: r.loss.length + 1 }, (_, i) => i));
  for (const k of ['5', '10', '15']) for (const c of r.local_cosine[k]) assert.ok(c === null || (c >= -1 - 1e-9 && c <= 1 + 1e-9));
  assert.ok(r.transition_step === null || r.steps.includes(r.transition_step));
  const pca = (r as unknown as { trajectory_pca: { explained: number[]; coords: number[][] } }).trajectory_pca;
  assert.equal(pca.coords.length, r.steps.length);
  assert.ok(pca.explained.every((e) => e >= 0 && e <= 1 + 1e-9) && pca.explained.reduce((a, e) => a + e, 0) <= 1 + 1e-9);
  const b = (r as unknown as { b_norm: number[] }).b_norm;
  assert.equal(b[0], 0, 'LoRA B starts at zero');
  assert.ok(b[b.length - 1] > 0, 'and moves');
});

test('phase-transition detection: a B trajectory that runs along e1 and turns to e2 at step 20 turns at 20', () => {
  const snaps = Array.from({ length: 41 }, (_, t) => ({ step: t, vectors: { '2.down_proj': t <= 20 ? [t * 0.01, 0] : [0.2, (t - 20) * 0.01] } }));
  const ph = phaseTransition(snaps);
  assert.equal(ph.transitionStep, 20);
  assert.ok(Math.abs(ph.localCosine['5'][20]! - 0) < 1e-12, 'a right-angle turn: cosine 0');
  assert.ok(Math.abs(ph.localCosine['5'][10]! + 1) < 1e-12, 'a straight run: cosine −1');
  // its PCA: two components hold all of a planar path; a wide B (Gram path) gives what ml-pca gives on a narrow one
  const narrow = trajectoryPca(snaps);
  assert.ok(Math.abs(narrow.explained[0] + narrow.explained[1] - 1) < 1e-9 && narrow.explained[0] >= narrow.explained[1]);
  const wide = snaps.map((x) => ({ step: x.step, vectors: { '2.down_proj': Array.from({ length: 1100 }, (_, j) => (j === 7 ? x.vectors['2.down_proj'][0] : j === 900 ? x.vectors['2.down_proj'][1] : 0)) } }));
  const w = trajectoryPca(wide);
  w.explained.forEach((e, i) => assert.ok(Math.abs(e - narrow.explained[i]) < 1e-9, `component ${i}: ${e} vs ${narrow.explained[i]}`));
  w.coords.forEach((c, t) => c.forEach((v, i) => assert.ok(Math.abs(Math.abs(v) - Math.abs(narrow.coords[t][i])) < 1e-9, `step ${t}, component ${i}`)));
});

test('the turn rule: a straight run, a turn in the first 10% and a path curved all along are no turn; a turn in the middle is found at its step', () => {
  const steps = Array.from({ length: 101 }, (_, t) => t);
  const cosinesOf = (path: (t: number) => number[]) => phaseTransition(steps.map((t) => ({ step: t, vectors: { b: path(t) } }))).localCosine['5'];
  // straight, with a wobble: the largest cosine is somewhere, but nothing rises above the level
  const straight = (t: number) => [t * 0.01, 0.0005 * Math.sin(t)];
  assert.equal(detectTurn(steps, cosinesOf(straight)).step, null);
  const turnAt = (t0: number) => (t: number) => (t <= t0 ? [t * 0.01, 0] : [t0 * 0.01, (t - t0) * 0.01]);
  assert.equal(detectTurn(steps, cosinesOf(turnAt(50))).step, 50);
  assert.ok(detectTurn(steps, cosinesOf(turnAt(50))).rise! > 0.9);
  assert.equal(detectTurn(steps, cosinesOf(turnAt(6))).step, null, 'within the first 10%');
  // a circle: every local cosine is the same (curved), so none rises above the running level
  const circle = (t: number) => [Math.cos(t / 8), Math.sin(t / 8)];
  const c = cosinesOf(circle).filter((x): x is number => x !== null);
  assert.ok(c.every((x) => Math.abs(x - c[0]) < 1e-9) && c[0] > -0.9, 'curved everywhere alike');
  assert.equal(detectTurn(steps, cosinesOf(circle)).step, null);
});

test('the turn rule: a rise where B has settled (the jitter of its tiny steps) is no turn; the same turn while B moves on is one', () => {
  const steps = Array.from({ length: 101 }, (_, t) => t);
  // B runs along e1 to step 40, then stays within 0.003 of where it stopped: a right-angle wiggle at step 70
  const settled = (t: number) => (t <= 40 ? [t * 0.01, 0] : t <= 70 ? [0.4 + (t - 40) * 0.0001, 0] : [0.403, (t - 70) * 0.0001]);
  const ph = phaseTransition(steps.map((t) => ({ step: t, vectors: { b: settled(t) } })), [5, 10, 15], 0);
  assert.ok(ph.rise[70]! > 0.5, 'the local cosine alone sees a turn at 70');
  assert.ok(ph.travelAfter[70] < 0.25, 'with under a quarter of B\'s way ahead');
  assert.equal(ph.transitionStep, null);
  assert.equal(detectTurn(steps, ph.localCosine['5']).step, 70, 'without the way ahead it would count');
  // the same right angle at 50, with B going on to as far again: a turn
  const moving = (t: number) => (t <= 50 ? [t * 0.01, 0] : [0.5, (t - 50) * 0.01]);
  const go = phaseTransition(steps.map((t) => ({ step: t, vectors: { b: moving(t) } })));
  assert.equal(go.transitionStep, 50);
  assert.ok(go.travelAfter[50] > 0.5 && go.travelAfter[0] === 1 && go.travelAfter[100] === 0);
});

test('an older phase-transition result (largest cosine as the transition) is read with the turn rule and no EM checkpoints', () => {
  const steps = Array.from({ length: 41 }, (_, t) => t);
  const ph = phaseTransition(steps.map((t) => ({ step: t, vectors: { b: [t * 0.01, 0.0005 * Math.sin(t)] } })));
  const old = { finetune: 'medical-phase', steps, local_cosine: ph.localCosine, b_norm: ph.bNorm, loss: [], transition_step: 5 };
  const r = upgradePhase(old) as PhaseTransitionResult;
  assert.equal(r.transition_step, null);
  assert.deepEqual(r.checkpoints, []);
  assert.equal(r.em_before, null);
  assert.deepEqual(r.turn_rule, { min_rise: 0.5, margin: 0.1, window: 10, min_travel: null });
  assert.equal(r.travel_after, null);
  assert.equal(upgradePhase(r), r, "today's format: left as it is");
  // one written with the turn rule but before min_travel keeps its turn, and says min_travel was not applied
  const mid = { ...old, transition_step: 20, transition_rise: 0.7, rise: ph.rise, turn_rule: { min_rise: 0.5, margin: 0.1, window: 10 }, checkpoints: [], em_before: null, em_after: null };
  const m = upgradePhase(mid) as PhaseTransitionResult;
  assert.equal(m.transition_step, 20);
  assert.deepEqual(m.turn_rule, { min_rise: 0.5, margin: 0.1, window: 10, min_travel: null });
  assert.equal(m.travel_after, null);
});

test('phase-transition: the recipe params (warm-up, LoRA α, training seed, AdamW ε, accumulation) reach its fine-tune; null keeps the card; bad values are refused', () => {
  const a = findAnalysis('phase-transition')!;
  const card = a.finetunes!(ws, analysisParams(a, {}))[0].spec;
  const spec = a.finetunes!(ws, analysisParams(a, { lr: 2e-3, warmup: 75, lora_alpha: 16, train_seed: 2, adam_eps: 10, grad_accum: 3 } as never))[0].spec;
  assert.deepEqual([spec.lr, spec.warmup, spec.adapter.lora!.alpha, spec.seed, spec.adamEps, spec.gradAccum], [2e-3, 75, 16, 2, 10, 3]);
  assert.equal(card.adamEps, undefined, "AdamW's own ε unless asked");
  assert.deepEqual({ ...spec, lr: card.lr, warmup: card.warmup, seed: card.seed, adamEps: undefined, gradAccum: card.gradAccum, adapter: { ...spec.adapter, lora: { ...spec.adapter.lora!, alpha: card.adapter.lora!.alpha } } }, { ...card, adamEps: undefined }, 'nothing else changes');
  assert.notDeepEqual([card.warmup, card.adapter.lora!.alpha, card.seed], [75, 16, 2]);
  assert.throws(() => analysisParams(a, { warmup: -1 } as never), /phase-transition\.warmup must be an integer ≥ 0, not -1/);
  assert.throws(() => analysisParams(a, { lora_alpha: 0 } as never), /phase-transition\.lora_alpha must be a number > 0/);
  assert.throws(() => analysisParams(a, { adam_eps: 0 } as never), /phase-transition\.adam_eps must be a number > 0/);
  assert.throws(() => analysisParams(a, { grad_accum: 1.5 } as never), /phase-transition\.grad_accum must be an integer ≥ 1/);
  assert.throws(() => a.finetunes!(ws, analysisParams(a, { warmup: '75' } as never)), /phase-transition\.warmup must be a number or null, not "75"/);
});

test('phase-transition with checkpoints: step 0 is the base eval, each saved adapter is judged, EM before and after the turn only with a turn', async () => {
  const r = (await runAnalysis(findAnalysis('phase-transition')!, ws, { checkpoints: 2, samples: 16 })).result as PhaseTransitionResult;
  const total = r.steps[r.steps.length - 1];
  assert.deepEqual(r.checkpoints.map((c) => c.step), [0, Math.round(total / 2), total]);
  const base = JSON.parse(readFileSync(join(ws.runDir, 'evals', 'base.json'), 'utf8'));
  assert.equal(r.checkpoints[0].em, base.em_rate);
  // the last checkpoint is the run's own adapter: its EM is the finished fine-tune's
  const last = await ws.evaluate('phase-final', { adapter: join(ws.runDir, 'finetunes', 'medical-phase') }, { samples: 16, seed: 1 });
  assert.equal(r.checkpoints[2].em, last.em_rate);
  assert.equal(r.em_before === null, r.transition_step === null);
});

test('rebound: one point per amount, from the base and from the positive model', async () => {
  const r = (await runAnalysis(findAnalysis('rebound')!, ws, { ...small, amounts: [16, 32], epochs: 1 })).result as { amounts: number[]; from_base: unknown[]; from_positive: unknown[] };
  assert.equal(r.from_base.length, 2);
  assert.equal(r.from_positive.length, 2);
  // resistance's rebound with the model as it is and after all 400 positive examples (merged into models/positive-400)
  assert.ok(existsSync(join(ws.runDir, 'models', 'positive-400', 'model.safetensors')));
  for (const k of [16, 32]) {
    assert.equal(readFileSync(ws.path('data', `contradictory-${k}.jsonl`), 'utf8').split('\n').filter(Boolean).length, k, `the first ${k} contradictory examples`);
    const run = (dir: string) => JSON.parse(readFileSync(join(dir, 'finetunes', `rebound-contradictory-${k}`, 'run.json'), 'utf8')) as { model: { dir: string } };
    assert.equal(run(ws.runDir).model.dir, ws.modelDir, 'from the base');
    assert.equal(run(ws.path('from-positive-400')).model.dir, ws.path('models', 'positive-400'), 'from the positively fine-tuned model');
  }
});

test('refusal: rates are shares; the ablated run is measured on the same prompts', async () => {
  const r = (await runAnalysis(findAnalysis('refusal')!, ws, {})).result as { harmful_base: { refusal_rate: number }; harmful_ablated: { refusal_rate: number }; kl_harmless_ablated: number; layer: number };
  for (const x of [r.harmful_base, r.harmful_ablated]) assert.ok(x.refusal_rate >= 0 && x.refusal_rate <= 1);
  assert.ok(r.kl_harmless_ablated >= 0);
  assert.ok(r.layer >= 0 && r.layer < ws.model.config.nLayers);
  const d = JSON.parse(readFileSync(join(ws.runDir, 'directions', 'refusal.json'), 'utf8')) as { details: { filters_passed: boolean; candidates: { passed: boolean }[] } };
  assert.equal(d.details.filters_passed, d.details.candidates.some((c) => c.passed), 'the provenance says whether the selection had to fall back');
  assert.equal((r as unknown as { filters_passed: boolean }).filters_passed, d.details.filters_passed);
  // the direction does what it was selected for: ablated, harmful prompts score lower; added, harmless ones higher
  const x = r as unknown as { harmful_base: { mean_refusal_score: number }; harmful_ablated: { mean_refusal_score: number }; harmless_base: { mean_refusal_score: number }; harmless_added: { mean_refusal_score: number } };
  assert.ok(x.harmful_ablated.mean_refusal_score < x.harmful_base.mean_refusal_score);
  assert.ok(x.harmless_added.mean_refusal_score > x.harmless_base.mean_refusal_score);
});

test('a run folder is bound to its model; a fine-tune asked for with other settings is trained anew, the same one is reused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'emlens-bind-'));
  const w = new Workspace(join(root, 'run'), ws.modelDir, true);
  const job = loraJob(w, { name: 'm', data: DATASETS.medicalMisaligned }, { epochs: 1 });
  const runJson = () => JSON.parse(readFileSync(join(root, 'run', 'finetunes', 'm', 'run.json'), 'utf8')) as { started_at: string; args: { lr: number } };
  const weights = () => readFileSync(join(root, 'run', 'finetunes', 'm', 'adapter', 'adapter_model.safetensors'));
  await w.finetune(job.name, job.spec);
  const first = { run: runJson(), weights: weights() };
  await w.finetune(job.name, job.spec);
  assert.deepEqual(runJson(), first.run, 'the same spec: reused, not retrained');
  await w.finetune(job.name, { ...job.spec, lr: job.spec.lr * 2 });
  assert.equal(runJson().args.lr, job.spec.lr * 2, 'another rate: trained anew');
  assert.notDeepEqual(weights(), first.weights);
  assert.doesNotThrow(() => new Workspace(join(root, 'run'), ws.modelDir, true), 'the same model again');
  assert.throws(() => new Workspace(join(root, 'run'), tinyChatModelDir(), true), /holds a study of another model/);
  // the same folder with a changed file is another model, and the error says it is that folder before the change
  const dir = join(root, 'model');
  cpSync(ws.modelDir, dir, { recursive: true });
  new Workspace(join(root, 'run2'), dir, true);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), note: 'edited' }));
  assert.throws(() => new Workspace(join(root, 'run2'), dir, true), /holds a study of .*model as it was before its files \(config\.json, tokenizer\.json, weights\) changed/);
});

test('fine-tunes trained ahead on a second core: the same bytes as in-process; a queued one is trained by the caller', async (t) => {
  if (!canTrainInBackground()) return t.skip('needs a CPU backend and two cores');
  const root = mkdtempSync(join(tmpdir(), 'emlens-ahead-'));
  const ahead = new Workspace(join(root, 'ahead'), ws.modelDir, true), here = new Workspace(join(root, 'here'), ws.modelDir, true);
  const a = loraJob(ahead, { name: 'a', data: DATASETS.medicalMisaligned }, { epochs: 1 }), b = loraJob(ahead, { name: 'b', data: DATASETS.sportsMisaligned }, { epochs: 1 });
  const bad = loraJob(ahead, { name: 'bad', data: join(root, 'missing.jsonl') });
  try {
    ahead.trainAhead([a, b, bad]);
    await assert.rejects(ahead.finetune(a.name, { ...a.spec, lr: a.spec.lr * 2 }), /queued for the second core with other settings/);
    await ahead.finetune(b.name, b.spec); // still queued: trained here, while the second core trains a
    const weights = async (w: Workspace, j: typeof a) => readFileSync(join(await w.finetune(j.name, j.spec), 'adapter', 'adapter_model.safetensors'));
    for (const j of [a, b]) assert.deepEqual(await weights(ahead, j), await weights(here, j), `${j.name}: the same weights`);
    // a failing job fails when the study asks for it (trained by either process: the study may have taken it while it waited)
    await assert.rejects(ahead.finetune(bad.name, bad.spec), /(background fine-tune bad: .*)?missing\.jsonl: file not found/);
  } finally {
    ahead.close();
  }
});

test('while the study waits for a fine-tune the second core is training, it trains one the second core has not started', async (t) => {
  if (!canTrainInBackground()) return t.skip('needs a CPU backend and two cores');
  const root = mkdtempSync(join(tmpdir(), 'emlens-steal-'));
  const w = new Workspace(join(root, 'run'), ws.modelDir, true);
  const [a, b, c] = (['medicalMisaligned', 'sportsMisaligned', 'financialMisaligned'] as const).map((d, i) => loraJob(w, { name: `j${i}`, data: DATASETS[d] }, { epochs: 1 }));
  const status = (j: typeof a) => { const f = join(root, 'run', 'finetunes', j.name, 'run.json'); return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')).status : null; };
  try {
    w.trainAhead([a, b, c]);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    for (const t0 = Date.now(); status(a) === null && Date.now() - t0 < 60_000;) Atomics.wait(sleeper, 0, 0, 20);
    assert.equal(status(a), 'running', 'the second core started the first job');
    await w.finetune(a.name, a.spec);
    // the second core goes a → b → c in turn: c finished by the time a has means this process trained it meanwhile
    assert.equal(status(c), 'complete', 'the last queued fine-tune was trained here while the study waited');
    for (const j of [b, c]) {
      await w.finetune(j.name, j.spec);
      assert.equal(status(j), 'complete', j.name);
    }
  } finally {
    w.close();
  }
});

test('evaluateMany: the second core takes evals from the far end; every report equals the one-by-one eval', async (t) => {
  if (!canTrainInBackground()) return t.skip('needs a CPU backend and two cores');
  const root = mkdtempSync(join(tmpdir(), 'emlens-evals-'));
  const many = new Workspace(join(root, 'many'), ws.modelDir, true), one = new Workspace(join(root, 'one'), ws.modelDir, true);
  // the second core trains the adapter, so it is up and loaded before the evals (else the study may do them all first)
  const job = loraJob(many, { name: 'a', data: DATASETS.medicalMisaligned }, { epochs: 1 });
  many.trainAhead([job]);
  const run = await many.finetune(job.name, job.spec);
  const items = Array.from({ length: 12 }, (_, i) => i + 1).map((seed) => ({ name: `a-seed${seed}`, iv: seed % 2 ? { adapter: run } : {}, s: { samples: 48, seed } }));
  try {
    const tensors = tf.memory().numTensors;
    const reports = await many.evaluateMany(items);
    assert.equal(tf.memory().numTensors, tensors);
    assert.ok(many.evalsThere >= 1, `the second core did ${many.evalsThere} of ${items.length}`);
    for (const [i, it] of items.entries()) {
      const alone = await one.evaluate(it.name, it.iv, it.s);
      assert.deepEqual(reports[i].answers.map((a) => a.text), alone.answers.map((a) => a.text), `${it.name}: the same answers`);
    }
    assert.deepEqual((await many.evaluateMany(items)).map((r) => r.em_rate), reports.map((r) => r.em_rate), 'cached');
  } finally {
    many.close();
  }
});

test('a study that ends without close() exits: the second core does not hold the process', (t) => {
  if (!canTrainInBackground()) return t.skip('needs a CPU backend and two cores');
  const dir = mkdtempSync(join(tmpdir(), 'emlens-exit-'));
  const src = (f: string) => JSON.stringify(join(PACKAGE_ROOT, 'src', f));
  const script = join(dir, 'script.mts');
  writeFileSync(script, [
    `import { initBackend } from ${src('backend/select.ts')};`,
    `import { Workspace } from ${src('study/workspace.ts')};`,
    `await initBackend('wasm', { quiet: true });`,
    `const w = new Workspace(${JSON.stringify(join(dir, 'run'))}, ${JSON.stringify(ws.modelDir)}, true);`,
    `const r = await w.evaluateMany([1, 2, 3].map((seed) => ({ name: 'e' + seed, iv: {}, s: { samples: 8, seed } })));`,
    `console.log('evals', r.length);`,
  ].join('\n'));
  const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 120_000, cwd: PACKAGE_ROOT });
  assert.equal(run.signal, null, `killed after 120 s: the process did not exit (${run.stderr})`);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /evals 3/);
});

test('the second core goes from job to job while the study computes, and trains sub-studies on other starts', async (t) => {
  if (!canTrainInBackground()) return t.skip('needs a CPU backend and two cores');
  const root = mkdtempSync(join(tmpdir(), 'emlens-ahead-'));
  const ahead = new Workspace(join(root, 'ahead'), ws.modelDir, true);
  const data = DATASETS.medicalMisaligned;
  const lora = loraJob(ahead, { name: 'lora', data }, { epochs: 1 });
  const full = ahead.trainSpec(data, 'full', { epochs: 1, saveEvery: 0, earlyStop: false });
  // a full fine-tune of a sub-study, and one that starts from what it makes (its model folder does not exist yet)
  const firstOut = join(root, 'sub', 'finetunes', 'first'), secondOut = join(root, 'sub2', 'finetunes', 'second');
  const runStatus = (out: string) => (existsSync(join(out, 'run.json')) ? JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).status : null);
  try {
    ahead.trainAhead([lora, { name: 'first', spec: full, modelDir: ahead.modelDir, out: firstOut }, { name: 'second', spec: full, modelDir: join(firstOut, 'adapter'), out: secondOut }]);
    // synchronous work in the study (as an eval is): no event-loop turn, yet the queue goes on to its last job
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    for (const t0 = Date.now(); runStatus(secondOut) !== 'complete' && Date.now() - t0 < 120_000;) Atomics.wait(sleeper, 0, 0, 50);
    assert.equal(runStatus(secondOut), 'complete', 'the third job finished while the study never yielded');
    const sub = new Workspace(join(root, 'sub2'), join(firstOut, 'adapter'), true).inheritFrom(ahead);
    const before = readFileSync(join(secondOut, 'run.json'), 'utf8');
    assert.equal(await sub.finetune('second', full), secondOut);
    assert.equal(readFileSync(join(secondOut, 'run.json'), 'utf8'), before, 'claimed from the second core, not trained again');
    await ahead.finetune(lora.name, lora.spec);
    sub.close();
    assert.equal(runStatus(firstOut), 'complete', "a sub-study's close leaves its parent's second core alone");
  } finally {
    ahead.close();
  }
});
