// The import rule of docs/architecture.md: a module imports only from its own folder or from folders of a lower layer;
// any upward import fails, as does a folder with no layer. No tensor axes.
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
  'src/recipes': 9,
  'src/organism': 10,
  'src/study': 11,
  'src/queue': 12,
  'analyses': 13, 'src/report': 13, 'src/api': 13,
  'src': 14, 'server': 14,
  'src/cli': 15,
  'src/bench': 16,
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

test('no module imports from a layer above its own', () => {
  const all = imports();
  assert.ok(all.length > 300, 'the import scan sees the tree');
  const unranked = [...new Set(all.flatMap((i) => [folderOf(i.from), folderOf(i.to)]).filter((f) => LAYERS[f] === undefined))];
  assert.deepEqual(unranked, [], 'every folder has a layer (add a new folder to LAYERS and docs/architecture.md)');
  const upward = [...new Set(all.filter((i) => LAYERS[folderOf(i.to)] > LAYERS[folderOf(i.from)]).map((i) => `${i.from} -> ${i.to}`))].sort();
  assert.deepEqual(upward, [], 'upward imports: import from a lower layer, move the shared code down, or hand it in as a parameter');
});
