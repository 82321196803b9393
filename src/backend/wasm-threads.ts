// tfjs-backend-wasm's threaded-SIMD build under Node: the pthread pool gets its worker script from a file, not a blob: URL.
// No tensor axes here.
//
// tfjs 4.22 never loads the threaded build in Node (WASM_HAS_MULTITHREAD_SUPPORT is false there), and when forced it hands
// Emscripten a `blob:` URL for the worker script and a Blob for the main script, which Node's Worker refuses
// (ERR_WORKER_PATH). Here the same Emscripten factory and binary (shipped in the package's wasm-out/) are instantiated with
// a `locateFile` that names the worker source tfjs embeds, written once to a cache file, and `mainScriptUrlOrBlob` naming
// the factory's own file; the instance is wrapped in tfjs's own BackendWasm, so every registered kernel is unchanged.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The most threads the build's pthread pool pre-creates (tfjs caps its XNNPACK pool there). */
export const MAX_WASM_THREADS = 8;

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread?: { runningWorkers: { unref(): void }[]; unusedWorkers: { unref(): void }[] };
  tfjs?: Record<string, unknown>;
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;
interface WasmPackage {
  BackendWasm: new (module: EmscriptenModule) => tf.KernelBackend;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
  version_wasm: string;
}

function wasmPackageDir(): string {
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/** emlens's cache folder: EMLENS_CACHE_DIR, else $XDG_CACHE_HOME/emlens, else ~/.cache/emlens. */
function cacheDir(): string {
  if (process.env.EMLENS_CACHE_DIR) return process.env.EMLENS_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'emlens');
}

/**
 * Writes the pthread worker source tfjs embeds (wasm-out/…worker.js exports it as a string) to a CommonJS file named by
 * its digest, once; returns the path. Newlines inside its string literals are escaped as tfjs does before making its Blob.
 */
export function workerScriptFile(): string {
  const out = join(wasmPackageDir(), 'wasm-out');
  const { wasmWorkerContents } = require(join(out, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
  for (const dir of [join(cacheDir(), 'wasm'), join(tmpdir(), 'emlens-wasm')]) {
    const file = join(dir, `tfjs-backend-wasm-threaded-simd.${digest}.worker.cjs`);
    if (existsSync(file)) return file;
    try {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, source);
      renameSync(tmp, file); // atomic: a concurrent process writes the same bytes
      return file;
    } catch {
      // an unwritable cache folder: try the next
    }
  }
  throw new Error(`cannot write the wasm worker script under ${cacheDir()} or ${tmpdir()}`);
}

/** Instantiates the threaded-SIMD module with a pool of `threads` (the calling thread counts as one). */
async function instantiate(threads: number): Promise<EmscriptenModule> {
  const out = join(wasmPackageDir(), 'wasm-out');
  const mainScript = join(out, 'tfjs-backend-wasm-threaded-simd.js');
  const factory = require(mainScript) as Factory;
  const workerFile = workerScriptFile();
  const binary = readFileSync(join(out, 'tfjs-backend-wasm-threaded-simd.wasm'));
  // Emscripten adds process handlers that rethrow any uncaught error, which Node then prints with the offending line of
  // its one-line minified source (55 kB); they are taken off again once the module is up
  const emitter = process as unknown as NodeJS.EventEmitter;
  const events = ['uncaughtException', 'unhandledRejection'];
  const before = new Map(events.map((e) => [e, emitter.listeners(e)]));
  let fail: (e: Error) => void = () => {};
  const aborted = new Promise<never>((_, reject) => (fail = reject));
  const module = factory({
    locateFile: (path: string) => (path.endsWith('.worker.js') ? workerFile : join(out, path)),
    mainScriptUrlOrBlob: mainScript,
    // tfjs sizes its XNNPACK pool as min(requested, logical cores / 2, 8) at start-up: report 2·threads cores so that the
    // pool is exactly what was asked for (Node counts hyper-threads as cores, tfjs halves them)
    instantiateWasm: (info: { env: Record<string, unknown> }, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) => {
      info.env.emscripten_num_logical_cores = () => 2 * threads;
      WebAssembly.instantiate(binary, info as unknown as WebAssembly.Imports).then((r) => receive(r.instance, r.module), (e) => fail(e as Error));
      return {};
    },
    onAbort: (what: unknown) => fail(new Error(`threaded wasm aborted: ${String(what)}`)),
    print: () => {},
    printErr: () => {},
  });
  try {
    return await Promise.race([module, aborted]);
  } finally {
    for (const e of events) {
      for (const l of emitter.listeners(e)) if (!before.get(e)!.includes(l)) emitter.removeListener(e, l as (...args: unknown[]) => void);
    }
  }
}

/** Idle pool workers must not keep the process alive (the pool is torn down with the process). */
function unrefWorkers(m: EmscriptenModule): void {
  for (const w of [...(m.PThread?.runningWorkers ?? []), ...(m.PThread?.unusedWorkers ?? [])]) w.unref();
}

/**
 * Makes tf's 'wasm' backend the threaded-SIMD build with `threads` threads (2 … MAX_WASM_THREADS). Call before the
 * backend is first set. The module is instantiated here, so a failure throws and leaves the stock (single-threaded)
 * backend registered. The kernels tfjs-backend-wasm registered for 'wasm' are kept (they are keyed by name).
 */
export async function registerThreadedWasm(threads: number): Promise<void> {
  if (!Number.isInteger(threads) || threads < 2 || threads > MAX_WASM_THREADS) {
    throw new Error(`threads must be an integer in 2…${MAX_WASM_THREADS}, got ${threads}`);
  }
  const pkg = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmPackage;
  const m = await instantiate(threads);
  m.tfjs = {
    init: m.cwrap('init', null, []),
    initWithThreadsCount: m.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: m.cwrap('get_threads_count', 'number', []),
    registerTensor: m.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: m.cwrap('dispose_data', null, ['number']),
    dispose: m.cwrap('dispose', null, []),
  };
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => {
    pkg.setThreadsCount(threads);
    const backend = new pkg.BackendWasm(m); // creates the pool: init_with_threads_count(threads)
    unrefWorkers(m);
    return backend;
  }, 2);
}

/** Threads of the active wasm backend's pool (1 for the single-threaded build). */
export async function wasmThreadsCount(): Promise<number> {
  const pkg = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmPackage;
  return pkg.getThreadsCount();
}
