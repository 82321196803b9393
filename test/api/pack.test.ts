// The shipped package: `npm pack`'s contents (organism and datasets in; tests, reference fixtures and TypeScript
// sources out), and the README's scripting example run with plain `node` against the packed tarball installed in a
// temporary folder (offline: the tarball unpacked as node_modules/emlens, its dependencies linked from this checkout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, renameSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/util/package-root.ts';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** The TypeScript the package ships for the report page's browser bundle (viz/ imports them; package.json's files). */
const VIZ_SOURCES = ['src/report/findings.ts', 'src/report/upgrade.ts', 'src/train/phase-turn.ts', 'src/util/conventions.ts', 'src/util/format.ts'];

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** The README block after "## Scripting emlens". */
function readmeExample(): string {
  const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const m = /## Scripting emlens[\s\S]*?```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README has a js block under "## Scripting emlens"');
  return m[1];
}

test('npm pack ships the organism, datasets, bin, dist and viz; not tests, references or TypeScript sources', () => {
  const out = run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], PACKAGE_ROOT);
  const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
  for (const f of ['fixtures/organism/model.safetensors', 'fixtures/organism/tokenizer.json', 'fixtures/datasets/persona-pos.jsonl', 'fixtures/datasets/broad-questions.json', 'bin/emlens.js', 'viz/main.ts', 'package.json', 'README.md']) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  for (const bad of [/^test\//, /^fixtures\/reference\//, /^src\//, /^analyses\//, /^server\//, /^runs\//, /tsconfig/]) {
    assert.deepEqual(files.filter((f) => bad.test(f) && !VIZ_SOURCES.includes(f)), [], `nothing matching ${bad} in the package but the viz bundle's sources`);
  }
});

test("the README example runs with plain node against the packed package, and prints steered text", { timeout: 900_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'emlens-pack-'));
  // a copy of what the build and the package need, so the build (prepare) writes nothing into this checkout
  const stage = join(tmp, 'stage');
  for (const p of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'BENCHMARKS.md', 'bin', 'src', 'analyses', 'server', 'viz', 'fixtures/organism', 'fixtures/datasets']) {
    if (existsSync(join(PACKAGE_ROOT, p))) cpSync(join(PACKAGE_ROOT, p), join(stage, p), { recursive: true });
  }
  symlinkSync(join(PACKAGE_ROOT, 'node_modules'), join(stage, 'node_modules'));
  const packed = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', tmp], stage))[0] as { filename: string; files: { path: string }[] };
  const files = packed.files.map((f) => f.path);
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/server/app.js', 'dist/.built']) assert.ok(files.includes(f), `${f} is in the tarball`);
  assert.deepEqual(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('viz/') && !VIZ_SOURCES.includes(f)), [], 'no TypeScript to compile at run time (viz/ and the modules it imports are bundled by esbuild for the browser)');

  // install: the tarball as node_modules/emlens, every dependency linked from this checkout (no network)
  const consumer = join(tmp, 'consumer');
  const modules = join(consumer, 'node_modules');
  mkdirSync(modules, { recursive: true });
  run('tar', ['-xzf', join(tmp, packed.filename), '-C', modules], tmp);
  renameSync(join(modules, 'package'), join(modules, 'emlens'));
  for (const name of readdirSync(join(PACKAGE_ROOT, 'node_modules'))) {
    if (name === '.bin' || name === '.cache' || name === 'emlens' || name === 'package') continue;
    symlinkSync(join(PACKAGE_ROOT, 'node_modules', name), join(modules, name));
  }
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  writeFileSync(join(consumer, 'example.mjs'), readmeExample());

  // plain node: no tsx loader anywhere
  const env = { ...process.env, NODE_OPTIONS: '' };
  const out = run(process.execPath, ['example.mjs'], consumer, env);
  process.stderr.write(out);
  const plain = /^plain: +(.*)$/m.exec(out)?.[1], steered = /^steered: *(.*)$/m.exec(out)?.[1];
  assert.ok(plain !== undefined && steered !== undefined, out);
  assert.ok(steered.trim().length > 0, 'steered text');
  assert.notEqual(steered, plain, 'steering changes the answer');

  // the report pages' browser bundle builds from the package (esbuild over viz/)
  const bundle = run(process.execPath, ['--input-type=module', '-e', "const { vizBundle } = await import('./node_modules/emlens/dist/server/bundle.js'); console.log((await vizBundle()).length)"], consumer, env);
  assert.ok(Number(bundle) > 10_000, `viz bundle of ${bundle.trim()} bytes`);

  // the CLI from the package runs the built JavaScript
  assert.equal(run(process.execPath, [join(modules, 'emlens', 'bin', 'emlens.js'), '--version'], consumer, env).trim(), JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version);
});
