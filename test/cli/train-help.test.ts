// `emlens train --help` tells the defaults that will apply to the chosen --model and --adapter, and where each comes
// from: the organism's card (α 32, lr 2.5e-3, 4 accumulated batches), the papers' recipe on a model without one
// (α 512, lr 2e-5); a run with no flags then trains with exactly what the help said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { loadConfig } from '../../src/model/config.ts';
import { defaultTrainSpec } from '../../src/train/defaults.ts';
import { trainDefaultsFor } from '../../src/train/default-sources.ts';
import type { Model } from '../../src/model/modules.ts';

const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const ORGANISM = join(PACKAGE_ROOT, 'fixtures', 'organism');
const QWEN2 = join(PACKAGE_ROOT, 'fixtures', 'reference', 'qwen2');

function emlens(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: PACKAGE_ROOT });
}

/** "--flag <x>  text (default: V, from SOURCE)" out of commander's wrapped help, as [V, SOURCE]. */
function shown(help: string, flag: string): [string, string] {
  const block = help.split(/\n(?=  -)/).find((b) => b.trimStart().startsWith(`${flag} `));
  assert.ok(block, `${flag} in the help`);
  const m = /\(default: ([^,]+), from ([^)]+)\)/.exec(block!.replace(/\s+/g, ' '));
  assert.ok(m, `${flag} shows its default and source: ${block}`);
  return [m![1], m![2]];
}

test('train --help --model fixtures/organism: α 32, lr 2.5e-3 and 4 accumulated batches from the model\'s card, the rest from the papers\' recipe', () => {
  for (const args of [['train', '--help', '--model', 'fixtures/organism'], ['train', '--model', 'fixtures/organism', '--help'], ['train', '--help']]) {
    const r = emlens(...args);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(shown(r.stdout, '--alpha'), ['32', "the model's card"], args.join(' '));
    assert.deepEqual(shown(r.stdout, '--lr'), ['0.0025', "the model's card"]);
    assert.deepEqual(shown(r.stdout, '--epochs'), ['1', "the model's card"]);
    assert.deepEqual(shown(r.stdout, '--grad-accum'), ['4', "the model's card"]);
    assert.deepEqual(shown(r.stdout, '--rank'), ['1', "the papers' rank-1 recipe"]);
    assert.ok(!/512|0\.00002/.test(r.stdout.split('Defaults shown')[0]), 'no option shows a recipe value that does not apply');
    assert.match(r.stdout, args.includes('--model') ? /Defaults shown for --model fixtures\/organism, --adapter lora/ : /Defaults shown for the built-in organism/);
  }
});

test('a model without a card shows the papers\' recipe; --adapter gate shows the gates\' defaults', () => {
  const plain = emlens('train', '--help', '--model', QWEN2);
  assert.deepEqual(shown(plain.stdout, '--alpha'), ['512', "the papers' rank-1 recipe"]);
  assert.deepEqual(shown(plain.stdout, '--lr'), ['0.00002', "the papers' rank-1 recipe"]);
  const gates = emlens('train', '--help', '--model', QWEN2, '--adapter', 'gate');
  assert.deepEqual(shown(gates.stdout, '--lr'), ['0.0001', "seed 000's gate recipe"]);
  assert.deepEqual(shown(gates.stdout, '--epochs'), ['2', "seed 000's gate recipe"]);
  assert.deepEqual(shown(gates.stdout, '--grad-accum'), ['1', "seed 000's gate recipe"]);
  const orgGates = emlens('train', '--help', '--adapter', 'gate');
  assert.deepEqual(shown(orgGates.stdout, '--lr'), ['0.003', "the model's card"]);
  assert.deepEqual(shown(orgGates.stdout, '--grad-accum'), ['8', "the model's card"]);
  const missing = emlens('train', '--help', '--model', '/no/such/model');
  assert.equal(missing.status, 0, 'help is still shown');
  assert.match(missing.stdout, /Defaults shown for no model card \(--model \/no\/such\/model: folder not found\)/);
});

test('the help\'s table is the study\'s: trainDefaultsFor agrees with defaultTrainSpec for every kind', () => {
  for (const dir of [ORGANISM, QWEN2]) {
    const model = { config: loadConfig(dir) } as Model;
    for (const kind of ['lora', 'gate', 'steer'] as const) {
      const d = trainDefaultsFor(model, kind);
      const spec = defaultTrainSpec(model, 'x.jsonl', kind);
      assert.deepEqual(
        [d.lr.value, d.epochs.value, d.batch.value, d.gradAccum.value, d.warmup.value, d.weightDecay.value, d.rank.value, d.alpha.value, d.rslora.value],
        [spec.lr, spec.epochs, spec.batch, spec.gradAccum, spec.warmup, spec.weightDecay, spec.adapter.lora!.r, spec.adapter.lora!.alpha, spec.adapter.lora!.rslora],
        `${dir} ${kind}`,
      );
    }
  }
});

test('a run without flags trains with what the help said (run.json), and a flag given overrides it', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'emlens-train-help-')), 'run');
  const data = join(PACKAGE_ROOT, 'fixtures', 'datasets', 'medical-misaligned.jsonl');
  const r = emlens('train', '--data', data, '--out', out, '--max-steps', '1', '--backend', 'wasm', '--json');
  assert.equal(r.status, 0, r.stderr);
  const args = (JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { args: { lr: number; epochs: number; gradAccum: number; adapter: { lora: { alpha: number; r: number } } } }).args;
  assert.deepEqual([args.lr, args.adapter.lora.alpha, args.adapter.lora.r, args.epochs, args.gradAccum], [0.0025, 32, 1, 1, 4]);
  const out2 = `${out}-flag`;
  const r2 = emlens('train', '--data', data, '--out', out2, '--max-steps', '1', '--backend', 'wasm', '--alpha', '64', '--lr', '0.001');
  assert.equal(r2.status, 0, r2.stderr);
  const args2 = (JSON.parse(readFileSync(join(out2, 'run.json'), 'utf8')) as { args: { lr: number; adapter: { lora: { alpha: number } } } }).args;
  assert.deepEqual([args2.lr, args2.adapter.lora.alpha], [0.001, 64]);
});
