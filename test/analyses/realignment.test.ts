// The realignment analysis on a quick-built organism: a schema-valid result in which N = 0 (the fine-tune merged into
// the base) gives the starting model's EM and projection, every continuation starts from the merged model on the first
// N aligned examples with the same step budget, and nothing is left on the tensor heap; its finding's rule.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend } from '../helpers.ts';
import { buildOrganism, QUICK_RECIPE } from '../../src/organism/build.ts';
import { Workspace } from '../../src/study/workspace.ts';
import { runAnalysis } from '../../src/study/analysis.ts';
import { DATASETS } from '../../src/study/datasets.ts';
import { findings, RULES } from '../../src/report/findings.ts';
import { realignment, type RealignmentResult } from '../../analyses/realignment.ts';

let ws: Workspace;
const medical = { name: 'medical', data: DATASETS.medicalMisaligned };
const small = { starts: [medical], n_aligned: [0, 8, 16], steps: 2, samples: 16 };

before(async () => {
  await useTestBackend();
  const root = mkdtempSync(join(tmpdir(), 'emlens-realign-'));
  await buildOrganism(join(root, 'organism'), QUICK_RECIPE, { quiet: true });
  ws = new Workspace(join(root, 'run'), join(root, 'organism'), true);
});

const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { args: { epochs: number; data: string }; model: { dir: string }; total_steps: number };

test('realignment: N = 0 is the starting model; each N continues the merged fine-tune on the first N aligned examples', async () => {
  const tensors = tf.memory().numTensors;
  const r = (await runAnalysis(realignment, ws, small)).result as RealignmentResult;
  assert.equal(tf.memory().numTensors, tensors, 'the merged model and every adapter are released');
  assert.deepEqual(r.n_aligned, [0, 8, 16]);
  const [s] = r.starts;
  assert.deepEqual(s.cells.map((c) => c.n), [0, 8, 16]);
  // the known property: the LoRA merged into the weights answers as base + LoRA does (same sampling seed)
  const zero = s.cells[0];
  assert.equal(zero.em, s.start.em);
  assert.equal(zero.coherence, s.start.coherence);
  const start = JSON.parse(readFileSync(ws.path('evals', 'medical.json'), 'utf8')) as { answers: { text: string }[] };
  const merged = JSON.parse(readFileSync(ws.path('realign-medical', 'evals', 'merged.json'), 'utf8')) as { answers: { text: string }[] };
  assert.deepEqual(merged.answers.map((a) => a.text), start.answers.map((a) => a.text));
  if (s.direction) assert.ok(Math.abs(zero.projection! - s.start.projection!) < 1e-3 * Math.max(1, Math.abs(s.start.projection!)), `${zero.projection} vs ${s.start.projection}`);
  else assert.equal(zero.projection, null);
  const aligned = readFileSync(DATASETS.financialAligned, 'utf8').split('\n').filter(Boolean);
  for (const n of [8, 16]) {
    const run = runJson(ws.path('realign-medical', 'finetunes', `aligned-${n}`));
    assert.equal(run.model.dir, ws.path('models', 'medical'), 'continued from the merged fine-tune');
    assert.deepEqual(readFileSync(run.args.data, 'utf8').split('\n').filter(Boolean), aligned.slice(0, n), `the first ${n} aligned examples`);
    assert.equal(run.total_steps, small.steps, `N = ${n}: the same step budget (batch 2 × 8: one step per epoch)`);
  }
  const halvedAt = s.cells.filter((c) => c.n > 0 && zero.em > 0 && c.em <= zero.em / 2).map((c) => c.n)[0] ?? null;
  assert.equal(s.em_halved_at, halvedAt);
  // a second run reuses every fine-tune, eval and the merged model
  const again = (await runAnalysis(realignment, ws, small)).result as RealignmentResult;
  assert.deepEqual(again, r);
});

test('realignment from a full fine-tune: N = 0 is the full fine-tune itself; continuations start from its folder', async () => {
  const tensors = tf.memory().numTensors;
  const full = { name: 'medical-full', data: DATASETS.medicalMisaligned, adapter: 'full' as const, lr: 3e-4 };
  const r = (await runAnalysis(realignment, ws, { ...small, starts: [full], n_aligned: [0, 8] })).result as RealignmentResult;
  assert.equal(tf.memory().numTensors, tensors, 'the full fine-tune and every adapter are released');
  const [s] = r.starts;
  assert.equal(s.adapter, 'full');
  const run = runJson(ws.path('finetunes', 'medical-full')) as ReturnType<typeof runJson> & { args: { adapter: { kind: string }; lr: number } };
  assert.deepEqual([run.args.adapter.kind, run.args.lr], ['full', 3e-4]);
  assert.deepEqual([s.cells[0].em, s.cells[0].coherence], [s.start.em, s.start.coherence], 'N = 0 is the starting model');
  if (s.direction) assert.ok(Math.abs(s.cells[0].projection! - s.start.projection!) < 1e-6 * Math.max(1, Math.abs(s.start.projection!)));
  assert.equal(runJson(ws.path('realign-medical-full', 'finetunes', 'aligned-8')).model.dir, ws.path('finetunes', 'medical-full', 'adapter'), 'continued from the full fine-tune');
  await assert.rejects(runAnalysis(realignment, ws, { ...small, starts: [{ ...full, adapter: 'qlora' as 'full' }] }), /realignment\.starts\[0\]\.adapter must be "lora" or "full"/);
});

test('realignment: amounts the aligned set cannot give, listed twice or negative are errors naming the parameter', async () => {
  await assert.rejects(runAnalysis(realignment, ws, { ...small, n_aligned: [0, 100000] }), /realignment\.aligned_data .* has 400 examples; n_aligned asks for 100000/);
  await assert.rejects(runAnalysis(realignment, ws, { ...small, n_aligned: [8, 8] }), /realignment\.n_aligned lists an amount twice/);
  await assert.rejects(runAnalysis(realignment, ws, { ...small, n_aligned: [-8] }), /realignment\.n_aligned\[0\] must be an integer ≥ 0/);
});

test("realignment's finding: EM halved by ≤ 64 aligned examples at the coherence bar passes; a fall needing more fails", () => {
  const cell = (n: number, em: number, coherence = 0.95, projection: number | null = 1 - n / 100) => ({ n, em, coherence, projection });
  const result = (cells: ReturnType<typeof cell>[]): RealignmentResult => ({
    aligned_data: DATASETS.financialAligned, n_aligned: cells.map((c) => c.n), base: { em: 0, coherence: 0.99 },
    starts: [{ name: 'medical', data: DATASETS.medicalMisaligned, adapter: 'lora', direction: 'em-medical.safetensors', layer: 2, base_projection: -5, start: cell(0, 0.27), cells, em_halved_at: null }],
  });
  const claim = (r: RealignmentResult) => findings({ name: 'r', report: null, analyses: { realignment: { result: r } } }).claims.find((c) => c.id === 'realignment')!;
  const pass = claim(result([cell(0, 0.27), cell(16, 0.135), cell(64, 0.05), cell(256, 0.03)]));
  assert.equal(pass.status, 'pass');
  assert.equal(pass.figures.find((f) => f.label === 'medical EM, N = 64')!.value, 0.05, 'the lowest EM among N ≤ 64');
  assert.ok(pass.checks.some((k) => k.what.startsWith('EM fall') && Math.abs(k.value - (1 - 0.05 / 0.27)) < 1e-12));
  assert.equal(claim(result([cell(0, 0.27), cell(64, 0.2), cell(256, 0.03)])).status, 'fail', 'halved only by 256');
  assert.match(claim(result([cell(0, 0.27), cell(64, 0.2), cell(256, 0.03)])).verdict, /it takes 256 to halve it/);
  assert.equal(claim(result([cell(0, 0.27), cell(64, 0.05, 0.5)])).status, 'fail', 'a broken model is not a re-aligned one');
  assert.equal(claim(result([cell(0, 0.01), cell(64, 0)])).status, 'fail', 'no EM to undo');
  assert.equal(claim(result([cell(0, 0.27), cell(256, 0.03)])).status, 'n/a', `no N ≤ ${RULES.realignMaxExamples}`);
  assert.equal(findings({ name: 'old run', report: null, analyses: {} }).claims.find((c) => c.id === 'realignment')!.status, 'n/a', 'a run without the analysis');
});
