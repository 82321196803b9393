// Hub ids from the local Hugging Face cache: a cache tree built here (refs/main, snapshots/<hash>, files symlinked into
// blobs/), HF_HUB_CACHE / HF_HOME order, @REV as a branch, tag or commit; the CLI loads ORG/NAME as the folder it
// points to; a missing id says where it looked and how to fetch it; an adapter's base_model_name_or_path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { hubCacheDir, parseHubId, resolveHubId, resolveLocalOrHub, sameBaseModel } from '../../src/model/hub-cache.ts';
import { UserError } from '../../src/util/log.ts';

const REF = join(PACKAGE_ROOT, 'fixtures', 'reference');
const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const HASH = 'a'.repeat(40), OLD = 'b'.repeat(40);

/** A hub cache holding ORG/NAME = a copy of `src`, as huggingface_hub lays it out. */
function hubCache(root: string, repo: string, src: string, hash = HASH, refs: Record<string, string> = { main: HASH }): string {
  const [org, name] = repo.split('/');
  const r = join(root, `models--${org}--${name}`);
  mkdirSync(join(r, 'blobs'), { recursive: true });
  mkdirSync(join(r, 'snapshots', hash), { recursive: true });
  for (const f of readdirSync(src)) {
    const bytes = readFileSync(join(src, f));
    const blob = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(r, 'blobs', blob), bytes);
    symlinkSync(join('..', '..', 'blobs', blob), join(r, 'snapshots', hash, f)); // relative, as huggingface_hub makes them
  }
  for (const [ref, h] of Object.entries(refs)) {
    mkdirSync(join(r, 'refs', ...ref.split('/').slice(0, -1)), { recursive: true });
    writeFileSync(join(r, 'refs', ref), h);
  }
  return join(r, 'snapshots', hash);
}

test('cache folder order: HF_HUB_CACHE, then HF_HOME/hub, then ~/.cache/huggingface/hub', () => {
  assert.equal(hubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b' }), '/a');
  assert.equal(hubCacheDir({ HF_HOME: '/b' }), '/b/hub');
  assert.match(hubCacheDir({}), /\.cache\/huggingface\/hub$/);
  assert.deepEqual(parseHubId('Qwen/Qwen2.5-0.5B-Instruct@v1.0'), { repo: 'Qwen/Qwen2.5-0.5B-Instruct', org: 'Qwen', name: 'Qwen2.5-0.5B-Instruct', rev: 'v1.0' });
  assert.equal(parseHubId('/abs/path'), undefined);
  assert.equal(parseHubId('a/b/c'), undefined);
});

test('ORG/NAME[@REV] → the snapshot refs/<rev> names, a commit hash, or an error naming the folder and the fetch command', () => {
  const root = mkdtempSync(join(tmpdir(), 'emlens-hub-'));
  const env = { HF_HUB_CACHE: root };
  const snap = hubCache(root, 'tiny/qwen2', join(REF, 'qwen2'), HASH, { main: HASH, 'tags/v1': OLD });
  mkdirSync(join(root, 'models--tiny--qwen2', 'snapshots', OLD));
  assert.equal(resolveHubId('tiny/qwen2', '--model', env), snap);
  assert.equal(resolveHubId('tiny/qwen2@main', '--model', env), snap);
  assert.equal(resolveHubId(`tiny/qwen2@${OLD}`, '--model', env), join(root, 'models--tiny--qwen2', 'snapshots', OLD));
  assert.equal(resolveHubId('tiny/qwen2@tags/v1', '--model', env), join(root, 'models--tiny--qwen2', 'snapshots', OLD));
  assert.throws(() => resolveHubId('tiny/absent', '--model', env), (e: Error) => e instanceof UserError
    && e.message.includes(join(root, 'models--tiny--absent')) && /huggingface-cli download tiny\/absent/.test(e.message));
  assert.throws(() => resolveHubId('tiny/qwen2@dev', '--model', env), /revision dev is not in the cache .*refs main, tags\/v1.*--revision dev/);
  // a path on disk always wins over a hub id of the same spelling
  const cwd = process.cwd();
  const here = mkdtempSync(join(tmpdir(), 'emlens-hub-cwd-'));
  mkdirSync(join(here, 'tiny', 'qwen2'), { recursive: true });
  process.chdir(here);
  try {
    assert.equal(resolveLocalOrHub('tiny/qwen2', '--model', env), 'tiny/qwen2');
  } finally {
    process.chdir(cwd);
  }
  assert.ok(sameBaseModel(snap, 'tiny/qwen2', env));
  assert.ok(!sameBaseModel(join(REF, 'llama'), 'tiny/qwen2', env));
});

test('forward --model ORG/NAME equals --model on the folder; an adapter picks its base model; a missing id is one error', () => {
  const root = mkdtempSync(join(tmpdir(), 'emlens-hub-'));
  hubCache(root, 'tiny/qwen2', join(REF, 'qwen2'));
  // a PEFT adapter in the cache whose base_model_name_or_path is the hub id
  const adapterSrc = mkdtempSync(join(tmpdir(), 'emlens-hub-ad-'));
  for (const f of readdirSync(join(REF, 'qwen2-lora-r1'))) copyFileSync(join(REF, 'qwen2-lora-r1', f), join(adapterSrc, f));
  const cfg = JSON.parse(readFileSync(join(adapterSrc, 'adapter_config.json'), 'utf8'));
  writeFileSync(join(adapterSrc, 'adapter_config.json'), JSON.stringify({ ...cfg, base_model_name_or_path: 'tiny/qwen2' }));
  hubCache(root, 'tiny/qwen2-lora', adapterSrc);
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'forward', '--ids', '1,85,91', '--json', ...args], { encoding: 'utf8', env: { ...process.env, HF_HUB_CACHE: root } });
  const logits = (r: ReturnType<typeof run>) => {
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout).logits;
  };
  const byFolder = logits(run('--model', join(REF, 'qwen2')));
  assert.deepEqual(logits(run('--model', 'tiny/qwen2')), byFolder);
  const withLora = logits(run('--model', join(REF, 'qwen2'), '--adapter', join(REF, 'qwen2-lora-r1')));
  const picked = run('--adapter', 'tiny/qwen2-lora');
  assert.deepEqual(logits(picked), withLora);
  assert.match(picked.stderr, /model: tiny\/qwen2 \(the --adapter's base_model_name_or_path\)/);
  const mismatch = run('--model', join(REF, 'qwen2-local'), '--adapter', 'tiny/qwen2-lora');
  assert.match(mismatch.stderr, /warning: --adapter tiny\/qwen2-lora was trained on tiny\/qwen2/);
  const absent = run('--model', 'tiny/nothing');
  assert.equal(absent.status, 1);
  const lines = absent.stderr.split('\n').filter((l) => l.startsWith('emlens:'));
  assert.equal(lines.length, 1, absent.stderr);
  assert.match(lines[0], /^emlens: --model tiny\/nothing: folder not found, and not in the Hugging Face cache \(looked for .*models--tiny--nothing.*huggingface-cli download tiny\/nothing/);
  assert.equal(absent.stdout, '');
});
