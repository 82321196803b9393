// `emlens demo --quick --no-serve` end to end (on a quick-built organism, to keep the suite fast): the report passes
// its schema, every section is present and non-empty, and a second run reuses every cached stage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { DEMO_REPORT_SCHEMA, REPORT_SECTIONS } from '../../src/study/demo.ts';

const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const emlens = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });

test('demo --quick --no-serve writes a complete report, and resumes from its cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'emlens-demo-'));
  const model = join(root, 'organism');
  assert.equal(emlens('organism', 'build', '--quick', '--out', model).status, 0);
  const out = join(root, 'runs', 'demo');
  const first = emlens('demo', '--model', model, '--quick', '--no-serve', '--out', out, '--json');
  assert.equal(first.status, 0, first.stderr);
  const report = JSON.parse(first.stdout);
  assert.ok(new Ajv({ strict: false }).validate(DEMO_REPORT_SCHEMA, report));
  for (const s of REPORT_SECTIONS) {
    const v = report.sections[s];
    assert.ok(v && (Array.isArray(v) ? v.length : Object.keys(v).length), `section ${s} is empty`);
  }
  assert.deepEqual(report.sections.em.map((e: { name: string }) => e.name), ['base', 'medical', 'financial', 'sports', 'sycophancy', 'medical-aligned']);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).sections.em, report.sections.em);
  assert.ok(readdirSync(join(out, 'analyses')).length >= 7);
  assert.equal(report.settings.lora_epochs, 1, '--quick trains each LoRA for one epoch');
  assert.equal(report.name, 'demo', 'the run is named after its folder without --name');
  assert.match(report.description, /^The whole study on organism \(--quick/);
  assert.equal(JSON.parse(readFileSync(join(out, 'finetunes', 'medical', 'run.json'), 'utf8')).args.epochs, 1);
  const second = emlens('demo', '--model', model, '--quick', '--no-serve', '--out', out, '--json', '--name', 'quick look', '--description', 'a first look at the quick organism');
  assert.equal(second.status, 0, second.stderr);
  assert.deepEqual([JSON.parse(second.stdout).name, JSON.parse(second.stdout).description], ['quick look', 'a first look at the quick organism']);
  assert.equal(emlens('demo', '--name', ' ', '--no-serve', '--out', out).status, 2, 'an empty --name is bad usage');
  assert.deepEqual(JSON.parse(second.stdout).sections.em, report.sections.em, 'the cached stages give the same figures');
  assert.doesNotMatch(second.stderr, /train:/, 'nothing is trained again');
});
