// The report contract (docs/architecture.md): every analysis' result schema names each field it has, and no other;
// the committed runs validate against today's schemas once read; steering-transfer's older parallel matrices read as
// today's rows, cell for cell, and the findings read from them are the matrices' figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { ANALYSES } from '../../analyses/index.ts';
import { STEERING_TRANSFER_RESULT_SCHEMA, type SteeringTransferResult } from '../../analyses/steering-transfer.ts';
import { findings } from '../../src/report/findings.ts';
import { TRANSFER_BASE_TARGET, upgradeRun, upgradeTransfer } from '../../src/report/upgrade.ts';
import { readRunAt } from '../../server/runs.ts';
import { PACKAGE_ROOT } from '../../src/util/package-root.ts';

const DEMO = join(PACKAGE_ROOT, 'fixtures', 'runs', 'organism-demo');
/** The same demo as written at commit 064af24, its transfer section in the old matrix format. */
const OLD_REPORT = join(PACKAGE_ROOT, 'fixtures', 'reports', 'organism-demo-064af24.json');
const ajv = new Ajv({ allErrors: true, strict: false });
type Schema = Record<string, unknown>;

/** Every object schema below `s` that lists properties without requiring them all, or admits others. */
function looseObjects(s: unknown, path: string): string[] {
  if (!s || typeof s !== 'object') return [];
  const o = s as Schema;
  const out: string[] = [];
  if (o.properties) {
    const keys = Object.keys(o.properties as Schema), required = (o.required as string[] | undefined) ?? [];
    const missing = keys.filter((k) => !required.includes(k));
    if (missing.length) out.push(`${path}: ${missing.join(', ')} not required`);
    if (o.additionalProperties === undefined || o.additionalProperties === true) out.push(`${path}: admits other properties`);
    for (const [k, v] of Object.entries(o.properties as Schema)) out.push(...looseObjects(v, `${path}.${k}`));
  } else if (o.type === 'object' && o.additionalProperties === undefined) out.push(`${path}: an object of anything`);
  if (o.items) out.push(...looseObjects(o.items, `${path}[]`));
  if (Array.isArray(o.anyOf)) o.anyOf.forEach((x) => out.push(...looseObjects(x, path)));
  if (o.additionalProperties && typeof o.additionalProperties === 'object') out.push(...looseObjects(o.additionalProperties, `${path}.*`));
  return out;
}

test('every analysis\' result schema requires each field it describes and admits no other', () => {
  const loose = ANALYSES.flatMap((a) => looseObjects(a.resultSchema, a.name));
  assert.deepEqual(loose, []);
  // a result that drifts from its type fails: a field left out, a field too many
  const st = ANALYSES.find((a) => a.name === 'steering-transfer')!;
  const ok: SteeringTransferResult = { sources: ['a'], targets: ['a'], layers: [1], write_layers: null, rows: [{ source: null, target: 'a', intervention: 'none', control: false, em: 0.1, coherence: 0.9, n: 10, reduction: null }] };
  assert.equal(ajv.validate(st.resultSchema, ok), true);
  assert.equal(ajv.validate(st.resultSchema, { ...ok, rows: [{ ...ok.rows[0], n: undefined }] }), false);
  assert.equal(ajv.validate(st.resultSchema, { ...ok, baseline: [] }), false);
  assert.equal(ajv.validate(st.resultSchema, { ...ok, rows: [{ ...ok.rows[0], intervention: 'steer' }] }), false);
});

test('the committed organism demo validates against today\'s schemas once read', async () => {
  const run = await readRunAt(DEMO, 'organism-demo');
  assert.deepEqual(Object.keys(run.errors), []);
  for (const [name, report] of Object.entries(run.analyses)) {
    const a = ANALYSES.find((x) => x.name === name)!;
    assert.equal(ajv.validate(a.resultSchema, report.result), true, `${name}: ${ajv.errorsText(ajv.errors)}`);
  }
  const sections = run.report!.sections as Record<string, { result: unknown }>;
  assert.deepEqual(sections.transfer.result, run.analyses['steering-transfer'].result, 'report.json and analyses/ read alike');
});

type Cell = { em: number; coherence: number } | null;
type Old = {
  sources: string[]; targets: string[]; baseline: Cell[]; base: Cell; ablation: Cell[][]; random_ablation: Cell[][]; ablation_reduction: (number | null)[][];
  random_ablation_reduction: (number | null)[][]; addition: Cell[]; random_addition: Cell[]; lora_ablation: Cell[][]; lora_ablation_reduction: (number | null)[][];
  random_lora_ablation: Cell[]; write_ablation: Cell[][]; write_ablation_reduction: (number | null)[][]; random_write_ablation: Cell[]; random_write_ablation_reduction: (number | null)[];
  write_layers: number[][]; layers: (number | null)[];
};

test('steering-transfer\'s matrices (the committed demo) read as rows, cell for cell', () => {
  const report = JSON.parse(readFileSync(OLD_REPORT, 'utf8'));
  const old = report.sections.transfer.result as Old;
  assert.ok(Array.isArray(old.ablation) && !('rows' in old), 'the fixture is in the old format');
  const r = upgradeTransfer(old) as SteeringTransferResult;
  assert.equal(ajv.validate(STEERING_TRANSFER_RESULT_SCHEMA, r), true, ajv.errorsText(ajv.errors));
  assert.equal(upgradeTransfer(r), r, 'rows are today\'s format: left as they are');
  assert.deepEqual([r.sources, r.targets, r.layers, r.write_layers], [old.sources, old.targets, old.layers, old.write_layers]);
  const row = (source: string | null, target: string, intervention: string, control: boolean) => {
    const found = r.rows.filter((x) => x.source === source && x.target === target && x.intervention === intervention && x.control === control);
    assert.equal(found.length, 1, `${source} ${target} ${intervention} ${control}`);
    return found[0];
  };
  const same = (x: { em: number; coherence: number; n: number | null }, c: Cell) => assert.deepEqual({ em: x.em, coherence: x.coherence, n: x.n }, { ...c!, n: null });
  let cells = 0;
  old.targets.forEach((t, j) => {
    same(row(null, t, 'none', false), old.baseline[j]);
    same(row(null, t, 'lora_ablation', true), old.random_lora_ablation[j]);
    same(row(null, t, 'write_ablation', true), old.random_write_ablation[j]);
    assert.equal(row(null, t, 'write_ablation', true).reduction, old.random_write_ablation_reduction[j]);
    cells += 3;
  });
  same(row(null, TRANSFER_BASE_TARGET, 'none', false), old.base);
  cells++;
  old.sources.forEach((s, i) => {
    same(row(s, TRANSFER_BASE_TARGET, 'addition', false), old.addition[i]);
    same(row(s, TRANSFER_BASE_TARGET, 'addition', true), old.random_addition[i]);
    cells += 2;
    old.targets.forEach((t, j) => {
      for (const [m, red, intervention, control] of [[old.ablation, old.ablation_reduction, 'ablation', false], [old.random_ablation, old.random_ablation_reduction, 'ablation', true], [old.lora_ablation, old.lora_ablation_reduction, 'lora_ablation', false], [old.write_ablation, old.write_ablation_reduction, 'write_ablation', false]] as const) {
        const x = row(s, t, intervention, control);
        same(x, m[i][j]);
        assert.equal(x.reduction, red[i][j], `${intervention} ${control} ${s} → ${t}: the reduction the analysis stored`);
        cells++;
      }
    });
  });
  assert.equal(r.rows.length, cells, 'every cell once, nothing else');
});

test('findings read from the upgraded demo are the matrices\' figures', () => {
  const report = JSON.parse(readFileSync(OLD_REPORT, 'utf8'));
  const old = report.sections.transfer.result as Old;
  const f = findings({ name: 'organism-demo', report, analyses: {} });
  assert.deepEqual(f, findings(upgradeRun({ name: 'organism-demo', report, analyses: {} })), 'findings upgrade what they read');
  // the transfer claim's best source and mean cut, computed here from the old matrices (another fine-tune, with EM)
  const cut = (m: Cell[][], rnd: (i: number, j: number) => Cell) => old.sources.map((s, i) => {
    const js = old.targets.map((t, j) => j).filter((j) => old.targets[j] !== s && old.baseline[j]!.em > 0);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    return { s, cut: mean(js.map((j) => 1 - m[i][j]!.em / old.baseline[j]!.em)), rnd: mean(js.map((j) => rnd(i, j)!.em / old.baseline[j]!.em - 1)) };
  }).sort((a, b) => b.cut - a.cut)[0];
  for (const [id, best] of [['transfer', cut(old.ablation, (i, j) => old.random_ablation[i][j])], ['transfer-write', cut(old.write_ablation, (_i, j) => old.random_write_ablation[j])]] as const) {
    const c = f.claims.find((x) => x.id === id)!;
    assert.ok(Math.abs(c.checks[0].value - best.cut) < 1e-12 && Math.abs(c.checks[1].value - Math.abs(best.rnd)) < 1e-12, `${id}: ${c.checks.map((k) => k.value)} vs ${best.cut}, ${best.rnd}`);
    assert.match(c.measured, new RegExp(`^the ${best.s} `));
  }
});
