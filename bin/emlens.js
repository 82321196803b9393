#!/usr/bin/env node
// The emlens executable: runs the built JavaScript (dist/, made by `npm run build`, which `prepare` runs) when it is
// there and not older than the sources; otherwise the TypeScript sources through tsx, so a checkout without a build runs.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const built = join(root, 'dist', 'src', 'cli', 'main.js');

/** The newest modification time of the TypeScript the build compiles (0 when the sources are not there: a package). */
function newestSource(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

function useBuild() {
  if (process.env.EMLENS_FROM_SOURCES === '1' || !existsSync(built)) return false;
  const stamp = join(root, 'dist', '.built'); // written when a build finishes
  if (!existsSync(stamp)) return false;
  const builtAt = statSync(stamp).mtimeMs;
  return ['src', 'analyses', 'server'].every((d) => newestSource(join(root, d)) <= builtAt);
}

let main;
if (useBuild()) {
  ({ main } = await import(pathToFileURL(built).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href));
}
process.exitCode = await main(process.argv);
