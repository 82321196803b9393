// Picks and initialises the tfjs backend: tensorflow (tfjs-node-gpu) → webgpu (Dawn) → wasm → cpu, and wasm's threads.
// No tensor axes here; every backend gets the kernels it lacks for training (see missing-kernels.ts).
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { registerMissingKernels } from './missing-kernels.ts';
import { guardWasmHeap } from './wasm-heap.ts';
import { MAX_WASM_THREADS, registerThreadedWasm, wasmThreadsCount } from './wasm-threads.ts';
import { probeWebgpu } from './webgpu-probe.ts';
import { log } from '../util/log.ts';
import { EmlensError } from '../util/errors.ts';

export const BACKENDS = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = BackendName | 'auto';

export class BackendError extends Error {}

/** Why each backend that `auto` skipped was skipped (for `--backend` diagnostics). */
const skipped: Partial<Record<BackendName, string>> = {};
let active: BackendName | undefined;
let activeThreads = 1;
let threadNote = '';

export function isBackendChoice(s: string): s is BackendChoice {
  return s === 'auto' || (BACKENDS as readonly string[]).includes(s);
}

let requestedThreads: number | undefined;

/** The wasm thread count to use (`--threads`); call before initBackend. */
export function setWasmThreads(n: number | undefined): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new BackendError(`threads must be a positive integer, got ${n}`);
  requestedThreads = n;
}

/**
 * Threads wasm will use: initBackend's option, else --threads, else EMLENS_THREADS, else 1 (at most 8). One thread is
 * the default because it was the faster on every organism-sized measurement here: on this 2-core machine, at load 2–4,
 * the organism's fine-tune ran at 2.73 steps/s on 1 thread against 0.72 on 2, its generation 1,870 against 384 tokens/s
 * (a pool thread that another process preempts stalls every op at its barrier, and the organism's ops are small).
 */
export function resolveWasmThreads(explicit?: number): number {
  const env = process.env.EMLENS_THREADS ? Number(process.env.EMLENS_THREADS) : undefined;
  const asked = explicit ?? requestedThreads ?? (env !== undefined && Number.isInteger(env) && env >= 1 ? env : 1);
  return Math.max(1, Math.min(MAX_WASM_THREADS, asked));
}

/** Threads the active backend computes with (wasm's pool; 1 for the others as far as emlens controls them). */
export function backendThreads(): number {
  return activeThreads;
}

/** Initialise the requested backend (or the first that works) and print the choice on stderr in one line. */
export async function initBackend(choice: BackendChoice = 'auto', opts: { quiet?: boolean; threads?: number } = {}): Promise<BackendName> {
  if (active && (choice === 'auto' || choice === active)) return active;
  const order: BackendName[] = choice === 'auto' ? [...BACKENDS] : [choice];
  for (const name of order) {
    const why = await tryBackend(name, choice === name, opts.threads);
    if (why === undefined) {
      active = name;
      registerMissingKernels(name);
      if (name === 'wasm') guardWasmHeap();
      if (!opts.quiet) log(`backend: ${name}${describeBackend(name)}${describeSkipped(order.slice(0, order.indexOf(name)))}`);
      return name;
    }
    skipped[name] = why;
    if (choice !== 'auto') throw new EmlensError('choice', `not available here: ${why}`, { value: name });
  }
  throw new BackendError(`no tfjs backend could start: ${JSON.stringify(skipped)}`);
}

export function activeBackend(): BackendName {
  if (!active) throw new BackendError('no backend initialised: call initBackend() first');
  return active;
}

function describeBackend(name: BackendName): string {
  if (name === 'webgpu') return ` (${webgpuAdapterName ?? 'adapter'})`;
  if (name === 'wasm') {
    const simd = wasmSimd ? 'simd' : 'no simd';
    return ` (${simd}, ${activeThreads} thread${activeThreads === 1 ? '' : 's'}${threadNote})`;
  }
  return '';
}

function describeSkipped(names: BackendName[]): string {
  const parts = names.filter((n) => skipped[n]).map((n) => `${n}: ${skipped[n]}`);
  return parts.length ? ` — ${parts.join('; ')}` : '';
}

let webgpuAdapterName: string | undefined;
let wasmSimd = false;

/** Returns undefined when the backend is ready, else the reason it is not. `asked`: named by --backend, not by auto. */
async function tryBackend(name: BackendName, asked: boolean, threads?: number): Promise<string | undefined> {
  try {
    switch (name) {
      case 'tensorflow': {
        const pkg = '@tensorflow/tfjs-node-gpu';
        try {
          await import(pkg); // optional dependency: absent where libtensorflow cannot be installed
        } catch (e) {
          if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return 'not installed';
          throw e;
        }
        break;
      }
      case 'webgpu': {
        const why = await provideNavigatorGpu(asked);
        if (why) return why;
        await import('@tensorflow/tfjs-backend-webgpu');
        break;
      }
      case 'wasm': {
        await import('@tensorflow/tfjs-backend-wasm');
        const n = resolveWasmThreads(threads);
        wasmSimd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
        if (n > 1 && !wasmSimd) threadNote = '; threads need wasm SIMD';
        else if (n > 1) {
          try {
            await registerThreadedWasm(n);
          } catch (e) {
            threadNote = `; threads unavailable: ${(e as Error).message.split('\n')[0]}`;
          }
        }
        break;
      }
      case 'cpu':
        break;
    }
    // Emscripten's wasm modules add process handlers that rethrow every uncaught error, which Node then prints with the
    // offending line of their one-line minified source (tens of kB): taken off again once the backend is up
    const emitter = process as unknown as NodeJS.EventEmitter;
    const events = ['uncaughtException', 'unhandledRejection'];
    const before = new Map(events.map((e) => [e, emitter.listeners(e)]));
    try {
      if (!(await tf.setBackend(name))) return 'tf.setBackend failed';
      await tf.ready();
    } finally {
      for (const e of events) {
        for (const l of emitter.listeners(e)) if (!before.get(e)!.includes(l)) emitter.removeListener(e, l as (...args: unknown[]) => void);
      }
    }
    if (name === 'wasm') activeThreads = await wasmThreadsCount();
    if (name === 'webgpu') await watchWebgpuErrors();
    if (name === 'cpu') (tf.backend() as { firstUse?: boolean }).firstUse = false; // skip tfjs's "install tfjs-node" banner
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/**
 * Dawn in Node: expose navigator.gpu before the tfjs webgpu backend registers. The adapter is first asked for in a child
 * process (webgpu-probe.ts) so that Dawn's native warnings stay out of our stderr; a software adapter (lavapipe,
 * SwiftShader) is only taken when --backend webgpu asked for it.
 */
async function provideNavigatorGpu(asked: boolean): Promise<string | undefined> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return undefined;
  if (process.platform === 'linux' && !hasVulkanLoader() && !process.env.EMLENS_WEBGPU_MODULE) return 'no Vulkan loader (libvulkan.so.1)';
  const probe = await probeWebgpu();
  if (!probe.ok) return probe.why;
  if (probe.software && !asked) return `only a software adapter (${probe.name}), used only with --backend webgpu`;
  const webgpu = (await import(process.env.EMLENS_WEBGPU_MODULE ?? 'webgpu')) as unknown as { create(flags: string[]): GpuLike; globals?: object };
  Object.assign(globalThis, webgpu.globals ?? {});
  const gpu = webgpu.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return 'no WebGPU adapter (no GPU driver found)';
  webgpuAdapterName = adapter.info?.description || adapter.info?.vendor || probe.name;
  Object.defineProperty(globalThis, 'navigator', { value: { ...(g.navigator ?? {}), gpu }, configurable: true, writable: true });
  return undefined;
}

interface GpuLike {
  requestAdapter(o?: object): Promise<{ info?: { description?: string; vendor?: string } } | null>;
}

function hasVulkanLoader(): boolean {
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', '/lib/x86_64-linux-gnu',
  ];
  return dirs.some((d) => existsSync(`${d}/libvulkan.so.1`));
}

/** A WebGPU validation error drops the command buffer silently: record it and fail loudly at the next check. */
let webgpuError: string | undefined;
async function watchWebgpuErrors(): Promise<void> {
  const backend = tf.backend() as unknown as { device?: { addEventListener?: (t: string, f: (e: { error: { message: string } }) => void) => void } };
  backend.device?.addEventListener?.('uncapturederror', (e) => {
    webgpuError ??= e.error.message;
  });
}

/** Throws if the GPU reported an error since the last check (call after readbacks). */
export function checkDeviceErrors(): void {
  if (webgpuError) {
    const msg = webgpuError;
    webgpuError = undefined;
    throw new BackendError(`webgpu device error: ${msg}`);
  }
}
