// The import rule of docs/architecture.md: a module imports only from its own folder or from folders of a lower layer.
// Today's known upward imports are listed by name and may only go away (a fixed one must leave the list; a new one fails).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { PACKAGE_ROOT } from '../../src/util/package-root.ts';

/** Layer of each folder, lowest first (docs/architecture.md draws the same order). */
export const LAYERS: Record<string, number> = {
  'src/util': 0,
  'src/backend': 1,
  'src/model': 2,
  'src/formats': 3, 'src/io': 3, 'src/data': 3,
  'src/adapters': 4,
  'src/directions': 5,
  'src/interventions': 6,
  'src/train': 7,
  'src/eval': 8,
  'src/organism': 9,
  'src/study': 10,
  'src/queue': 11,
  'analyses': 12, 'src/report': 12, 'src/api': 12,
  'src': 13, 'server': 13,
  'src/cli': 14,
  'src/bench': 15,
};

/** Upward imports that exist today, each to be removed by the re-layering (issue 24), never added to. */
const KNOWN: Record<string, string> = {
  'src/directions/kinds.ts -> src/interventions/ablate.ts': 'per-paper recipes (refusal selection ablates and steers): move to recipes/',
  'src/directions/kinds.ts -> src/interventions/steer.ts': 'per-paper recipes: move to recipes/',
  'src/directions/kinds.ts -> src/eval/refusal.ts': 'per-paper recipes (refusal score): move to recipes/',
  'src/directions/kinds.ts -> src/eval/judge.ts': 'per-paper recipes (persona judged answers): move to recipes/',
  'src/directions/kinds.ts -> src/eval/em-eval.ts': 'per-paper recipes (EM from judged answers): move to recipes/',
};

function folderOf(file: string): string {
  const parts = file.split('/');
  return parts[0] === 'src' && parts.length > 2 ? `src/${parts[1]}` : parts[0];
}

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(join(PACKAGE_ROOT, dir), { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

/** Every relative import (static, re-export, type-only or dynamic) of the library, server and analyses. */
function imports(): { from: string; to: string }[] {
  const out: { from: string; to: string }[] = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const root of ['src', 'analyses', 'server']) {
    for (const file of tsFiles(root)) {
      const text = readFileSync(join(PACKAGE_ROOT, file), 'utf8');
      for (const m of text.matchAll(re)) out.push({ from: file, to: relative(PACKAGE_ROOT, normalize(join(PACKAGE_ROOT, dirname(file), m[1]))).replaceAll('\\', '/') });
    }
  }
  return out;
}

test('no module imports from a layer above its own, except the known ones, which only go away', () => {
  const all = imports();
  assert.ok(all.length > 300, 'the import scan sees the tree');
  const unranked = [...new Set(all.flatMap((i) => [folderOf(i.from), folderOf(i.to)]).filter((f) => LAYERS[f] === undefined))];
  assert.deepEqual(unranked, [], 'every folder has a layer (add a new folder to LAYERS and docs/architecture.md)');
  const upward = [...new Set(all.filter((i) => LAYERS[folderOf(i.to)] > LAYERS[folderOf(i.from)]).map((i) => `${i.from} -> ${i.to}`))].sort();
  const fresh = upward.filter((u) => !(u in KNOWN));
  assert.deepEqual(fresh, [], 'new upward imports (import from a lower layer, or move the code)');
  const fixed = Object.keys(KNOWN).filter((k) => !upward.includes(k));
  assert.deepEqual(fixed, [], 'fixed upward imports: take them off the KNOWN list');
});
