// The backend probe is quiet: Dawn's native output (a Vulkan driver it rejects, Mesa's warnings) is read in a child
// process and becomes one reason on the single `backend:` line; a software adapter is never chosen by `auto`.
// No tensor axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/cli/paths.ts';
import { isSoftwareAdapter, summarizeDawnStderr } from '../../src/backend/webgpu-probe.ts';

const BIN = join(PACKAGE_ROOT, 'bin', 'emlens.js');
const QWEN2 = join(PACKAGE_ROOT, 'fixtures', 'reference', 'qwen2');

/** Lines a rejected Vulkan driver makes Dawn and Mesa print, as the issue saw them. */
const DAWN_NOISE = [
  'error: XDG_RUNTIME_DIR is invalid or not set in the environment.',
  'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.',
  ' - While initializing adapter (backend=BackendType::Vulkan)',
  '    at InitializeImpl (/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:257)',
  '',
].join('\n');

/** A stand-in for the `webgpu` package: writes Dawn's noise straight to fd 2 (as native code does) and returns `adapter`. */
function fakeWebgpu(adapter: object | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-fake-webgpu-'));
  const file = join(dir, 'webgpu.mjs');
  writeFileSync(file, `import { writeSync } from 'node:fs';
export const globals = {};
export function create() {
  writeSync(2, ${JSON.stringify(DAWN_NOISE)});
  return { requestAdapter: async () => (${JSON.stringify(adapter)}) };
}
`);
  return file;
}

function forwardAuto(env: Record<string, string>): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'forward', '--model', QWEN2, '--ids', '1,2', '--backend', 'auto', '--threads', '1'], {
    encoding: 'utf8', env: { ...process.env, ...env },
  });
  return { status: r.status, stderr: r.stderr };
}

function assertOneBackendLine(stderr: string, want: RegExp): void {
  const lines = stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `expected exactly one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], want);
  assert.doesNotMatch(stderr, /Warning|XDG_RUNTIME_DIR|\.cpp:|\n\s+at /);
}

test("Dawn's adapter rejections read as one reason; software adapters recognised", () => {
  assert.equal(summarizeDawnStderr(DAWN_NOISE), 'Vulkan: Vulkan shaderUniform*ArrayDynamicIndexing required');
  assert.equal(summarizeDawnStderr('error: XDG_RUNTIME_DIR is invalid\n'), undefined);
  assert.ok(isSoftwareAdapter({ description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }));
  assert.ok(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader' }));
  assert.ok(isSoftwareAdapter({ description: 'anything', isFallbackAdapter: true }));
  assert.ok(!isSoftwareAdapter({ vendor: 'nvidia', description: 'NVIDIA H100 80GB HBM3' }));
});

test('auto with a rejected Vulkan driver (simulated): one backend line, nothing from native code', () => {
  const r = forwardAuto({ EMLENS_WEBGPU_MODULE: fakeWebgpu(null), VK_ICD_FILENAMES: '/nonexistent/lvp_icd.x86_64.json' });
  assert.equal(r.status, 0, r.stderr);
  assertOneBackendLine(r.stderr, /^backend: wasm \(.*1 thread\) — .*webgpu: no usable adapter \(Vulkan: lavapipe rejected\)$/);
});

test('auto never takes a software adapter (simulated lavapipe that Dawn accepts)', () => {
  const r = forwardAuto({ EMLENS_WEBGPU_MODULE: fakeWebgpu({ info: { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' } }) });
  assert.equal(r.status, 0, r.stderr);
  assertOneBackendLine(r.stderr, /^backend: wasm .*webgpu: only a software adapter \(llvmpipe \(LLVM 15\.0\.6, 256 bits\)\), used only with --backend webgpu$/);
});

// The real thing where Mesa's lavapipe is installed (`apt-get install mesa-vulkan-drivers`): Dawn rejects it natively.
const icdDir = '/usr/share/vulkan/icd.d';
const lvp = existsSync(icdDir) ? readdirSync(icdDir).find((f) => f.startsWith('lvp_')) : undefined;
test('auto with the real lavapipe driver: one backend line on stderr', { skip: lvp ? false : 'no lavapipe ICD on this machine' }, () => {
  const r = forwardAuto({ VK_ICD_FILENAMES: join(icdDir, lvp!) });
  assert.equal(r.status, 0, r.stderr);
  assertOneBackendLine(r.stderr, /^backend: wasm \(.*\) — .*webgpu: /);
});
