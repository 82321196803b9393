// One intervention spec, applied in one place: every kind of cell the analyses evaluate (steering-sweep,
// steering-transfer, gating, refusal, direction-comparison), replayed through the CLI's own flags
// (`emlens forward --json`, run in-process), gives the logits of the analysis' spec applied in-process; and the
// meaning of "which row" is cli.md's (--direction-layer, else the file's best layer).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, REF_DIR, flatLogits, maxAbsDiff, tensorCount } from '../helpers.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeModel, type Model } from '../../src/model/modules.ts';
import { Direction } from '../../src/directions/direction.ts';
import { saveGates, type Gates } from '../../src/adapters/gates.ts';
import { applyInterventions, type InterventionSpec } from '../../src/interventions/spec.ts';
import { steeringHook } from '../../src/interventions/steer.ts';
import { EmlensError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { flagsFromSpec, specFromOptions } from '../../src/cli/model-options.ts';
import { main } from '../../src/cli/main.ts';
import { sweepCell } from '../../analyses/steering-sweep.ts';
import { gateCell } from '../../analyses/gating.ts';

const QWEN = join(REF_DIR, 'qwen2');
const LORA = join(REF_DIR, 'qwen2-lora-r1'); // down_proj at block 2
const ids = [1, 85, 91, 266, 332, 201, 384, 306];
let model: Model;
let dir: string, em: string, write: string, gates: string;

/** A random direction file [3, 64] whose best layer is `best`. */
function directionFile(path: string, seed: number, best: number): string {
  const rng = new Rng(seed);
  const rows = Array.from({ length: 3 }, () => Array.from({ length: 64 }, () => rng.normal()));
  return Direction.make(rows, { kind: 'em', site: 'resid_post', positions: 'answer-mean', method: 'mean-diff', best_layer: best }).save(path);
}

before(async () => {
  await useTestBackend();
  model = loadModel(QWEN);
  dir = mkdtempSync(join(tmpdir(), 'emlens-spec-'));
  em = directionFile(join(dir, 'em.safetensors'), 1, 0);
  write = directionFile(join(dir, 'write.safetensors'), 2, 2);
  // gates away from identity, so that λ matters
  const rng = new Rng(3);
  const C = model.config.nHeads * model.config.dHead;
  const g: Gates = { kind: 'full', dModel: 64, channels: C, layers: new Map() };
  for (const l of [0, 1]) g.layers.set(l, { W: tf.tensor2d(Array.from({ length: 64 * C }, () => rng.normal() * 0.3), [64, C]), b: tf.tensor1d(Array.from({ length: C }, () => rng.normal())) });
  gates = join(dir, 'gates');
  saveGates(g, gates);
  for (const x of g.layers.values()) tf.dispose([x.W!, x.b]);
});

after(() => disposeModel(model));

/** `emlens forward --json` with these flags, run in-process through the CLI's main. */
async function cliLogits(flags: string[]): Promise<number[]> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  let code: number;
  try {
    code = await main(['node', 'emlens', 'forward', '--model', QWEN, '--backend', 'wasm', '--ids', ids.join(','), '--json', ...flags]);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(code, 0, `emlens forward ${flags.join(' ')}`);
  return (JSON.parse(out).logits as number[][]).flat();
}

function specLogits(spec: InterventionSpec): Float32Array {
  const a = applyInterventions(model, spec);
  try {
    return flatLogits(a.model, [ids], a.hooks);
  } finally {
    a.dispose();
  }
}

/** Each analysis' kinds of cell, as the analysis builds them. */
function cells(): [string, InterventionSpec][] {
  return [
    ...[0, 1, 2].flatMap((l) => [1, 4].map((a): [string, InterventionSpec] => [`steering-sweep L${l} α${a}`, sweepCell(em, l, a)])),
    ['steering-transfer: ablation, every block', { adapter: LORA, ablate: { direction: em } }],
    ['steering-transfer: ablation at the best block', { adapter: LORA, ablate: { direction: em, layers: [0] } }],
    ['steering-transfer: addition to the base', { steer: [{ direction: em, alpha: 1 }] }],
    ['steering-transfer: addition to a fine-tune', { adapter: LORA, steer: [{ direction: em, alpha: 2 }] }],
    ['steering-transfer: LoRA-B projection', { adapter: LORA, loraProjection: { direction: em } }],
    ['steering-transfer: write ablation at its blocks', { adapter: LORA, ablate: { direction: write, layers: [2] } }],
    ['gating: λ −1 on the fine-tune', gateCell(gates, -1, LORA)],
    ['gating: λ 1 on the base', gateCell(gates, 1)],
    ['gating: λ 0', gateCell(gates, 0, LORA)],
    ['refusal: full ablation of one row', { ablate: { direction: em, row: 1, mode: 'full' } }],
    ['direction-comparison: the fine-tune', { adapter: LORA }],
  ];
}

test('every analysis cell replayed through the CLI flags gives the logits of its spec, exactly', async () => {
  const base = specLogits({});
  for (const [name, spec] of cells()) {
    const flags = flagsFromSpec(spec);
    const cli = await cliLogits(flags);
    const own = specLogits(spec);
    assert.equal(maxAbsDiff(cli, own), 0, `${name}: ${flags.join(' ')}`);
    if (!name.includes('λ 0') && !name.includes('comparison')) assert.ok(maxAbsDiff(Array.from(base), own) > 1e-4, `${name} changes the logits`);
  }
});

test("which row: --steer L:α:DIR reads the file's best row (cli.md), the sweep's cell for block L reads row L", async () => {
  const best = await cliLogits(['--steer', `1:4:${em}`]);
  const rowL = await cliLogits(['--steer', `1:4:${em}`, '--direction-layer', '1']);
  const d = Direction.load(em);
  const hook = (row: number) => flatLogits(model, [ids], [steeringHook({ layer: 1, alpha: 4, vector: Float32Array.from(d.at(row)) })]);
  assert.equal(maxAbsDiff(best, hook(0)), 0, 'the best layer (0) row at block 1');
  assert.equal(maxAbsDiff(rowL, hook(1)), 0, 'row 1 at block 1');
  assert.equal(maxAbsDiff(rowL, specLogits(sweepCell(em, 1, 4))), 0, 'the sweep cell is row L at block L');
  assert.ok(maxAbsDiff(best, rowL) > 1e-3, 'the two rows differ');
  // a spec without row is the CLI's meaning, and flags round-trip into the same spec
  assert.equal(maxAbsDiff(best, specLogits({ steer: [{ direction: em, layer: 1, alpha: 4 }] })), 0);
  assert.deepEqual(specFromOptions({ backend: 'wasm', steer: [`1:4:${em}`], directionLayer: '1' }, 3), sweepCell(em, 1, 4));
});

test('applyInterventions: in-memory directions, one dispose frees everything, errors name the parameter', () => {
  const d = Direction.load(em);
  const fromFile = specLogits({ adapter: LORA, gates, gateScale: -1, steer: [{ direction: em, layer: 2, row: 2, alpha: 3 }], ablate: { direction: write } });
  const before = tensorCount();
  const inMemory = specLogits({ adapter: LORA, gates, gateScale: -1, steer: [{ direction: d, layer: 2, row: 2, alpha: 3 }], ablate: { direction: Direction.load(write).at() } });
  assert.equal(tensorCount(), before, 'no tensor left behind');
  assert.equal(maxAbsDiff(Array.from(fromFile), inMemory), 0);
  assert.throws(() => applyInterventions(model, { steer: [{ direction: em, layer: 7, alpha: 1 }] }), (e: unknown) => e instanceof EmlensError && e.param === 'spec.steer[0].layer');
  assert.throws(() => applyInterventions(model, { loraProjection: { direction: em } }), (e: unknown) => e instanceof EmlensError && e.param === 'spec.loraProjection');
  assert.throws(() => applyInterventions(model, { ablate: { direction: [1, 2, 3] } }), /spec\.ablate\.direction: the vector has 3 numbers, the model's dModel is 64/);
  assert.equal(tensorCount(), before, 'a failed apply frees what it loaded');
  assert.throws(() => flagsFromSpec({ steer: [{ direction: em, layer: 1, row: 1, alpha: 1 }], ablate: { direction: em } }), /--direction-layer names one row/);
});
