// Asks Dawn for a WebGPU adapter in a child process whose stderr is read, not shown: Dawn's native warnings (a Vulkan
// driver it rejects, Mesa's XDG_RUNTIME_DIR complaint) never reach the user, and become one short reason. No tensor axes.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface AdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export type ProbeResult =
  | { ok: true; adapter: AdapterInfo; software: boolean; name: string }
  | { ok: false; why: string };

/**
 * The module the probe loads: the `webgpu` package (Dawn), or EMLENS_WEBGPU_MODULE — a file exporting the same
 * `create(flags)` — which the tests use to stand in for a driver that prints native warnings.
 */
function webgpuModuleUrl(): string {
  const override = process.env.EMLENS_WEBGPU_MODULE;
  if (override) return pathToFileURL(override).href;
  return pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
}

const CHILD = `
const { create } = await import(process.argv[1]);
const gpu = create([]);
const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const i = a && (a.info ?? {});
const info = i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
  isFallbackAdapter: i.isFallbackAdapter ?? a.isFallbackAdapter } : null;
process.stdout.write('\\n@@adapter ' + JSON.stringify(info) + '\\n');
process.exit(0);
`;

/** A CPU rasteriser posing as a GPU: Mesa's lavapipe (llvmpipe), Google's SwiftShader, or anything Dawn calls a fallback. */
export function isSoftwareAdapter(a: AdapterInfo): boolean {
  if (a.isFallbackAdapter) return true;
  const text = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ');
  return /llvmpipe|lavapipe|swiftshader|software|softpipe/i.test(text);
}

export function adapterName(a: AdapterInfo): string {
  return a.description || a.device || a.vendor || 'adapter';
}

/** Installed Vulkan drivers that are software rasterisers, by the name users know them by. */
function softwareVulkanDrivers(): string[] {
  const files = (process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES ?? '').split(':').filter(Boolean).map((f) => f.split('/').pop()!);
  if (!files.length) {
    for (const d of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d']) {
      if (existsSync(d)) files.push(...readdirSync(d));
    }
  }
  const names = new Set<string>();
  for (const f of files) {
    if (/^lvp_/i.test(f) || /lavapipe/i.test(f)) names.add('lavapipe');
    if (/swiftshader/i.test(f)) names.add('SwiftShader');
  }
  return [...names];
}

/** Dawn's adapter rejections on stderr ("Warning: X required.\n - While initializing adapter (backend=BackendType::Vulkan)"). */
export function summarizeDawnStderr(stderr: string): string | undefined {
  const lines = stderr.split('\n');
  const reasons: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /While initializing adapter \(backend=BackendType::(\w+)\)/.exec(lines[i]);
    if (!m) continue;
    const what = (lines[i - 1] ?? '').replace(/^\s*(Warning|Error):\s*/, '').replace(/\.$/, '').trim();
    reasons.push(`${m[1]}: ${what}`);
  }
  return reasons.length ? [...new Set(reasons)].join('; ') : undefined;
}

/** Runs the probe; never prints. `timeoutMs` bounds a driver that hangs. */
export async function probeWebgpu(timeoutMs = 20_000): Promise<ProbeResult> {
  let url: string;
  try {
    url = webgpuModuleUrl();
  } catch {
    return { ok: false, why: 'the webgpu package is not installed' };
  }
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(e) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  const line = stdout.split('\n').find((l) => l.startsWith('@@adapter '));
  if (!line) {
    const first = stderr.split('\n').map((l) => l.trim()).find((l) => l && !/^at /.test(l));
    return { ok: false, why: `the adapter probe failed (exit ${code}${first ? `: ${first.slice(0, 160)}` : ''})` };
  }
  const info = JSON.parse(line.slice('@@adapter '.length)) as AdapterInfo | null;
  if (!info) {
    const rejected = summarizeDawnStderr(stderr);
    const soft = softwareVulkanDrivers();
    if (rejected && soft.length) return { ok: false, why: `no usable adapter (Vulkan: ${soft.join(', ')} rejected)` };
    if (rejected) return { ok: false, why: `no usable adapter (${rejected})` };
    return { ok: false, why: 'no usable adapter (no GPU driver found)' };
  }
  return { ok: true, adapter: info, software: isSoftwareAdapter(info), name: adapterName(info) };
}
