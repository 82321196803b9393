// Builds the browser bundle of viz/ with esbuild (once per process) for the server and for static exports.
// No tensor axes.
import { build } from 'esbuild';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/util/package-root.ts';

let cached: Promise<string> | undefined;

export function vizBundle(): Promise<string> {
  cached ??= build({
    entryPoints: [join(PACKAGE_ROOT, 'viz', 'main.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0].text);
  cached.catch(() => (cached = undefined)); // a failed build is tried again on the next request
  return cached;
}
