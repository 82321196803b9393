// Where the package's own files are (package.json, fixtures, viz) whether this code runs from the TypeScript sources
// (src/…) or from the build (dist/src/…); and how to start a sibling module in a new process or thread. No tensor axes.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder at or above `fromUrl`'s that holds emlens's package.json (not dist/, which has none). */
export function packageRootOf(fromUrl: string): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'fixtures'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`emlens: no package root above ${fileURLToPath(fromUrl)}`);
    dir = up;
  }
}

export const PACKAGE_ROOT = packageRootOf(import.meta.url);

/** The built-in model organism (an HF folder shipped in the package). */
export const ORGANISM_DIR = join(PACKAGE_ROOT, 'fixtures', 'organism');

/** A module beside `fromUrl`, named without extension: `.ts` when running from the sources, `.js` from the build. */
export function siblingModule(name: string, fromUrl: string): URL {
  return new URL(`./${name}${fromUrl.endsWith('.ts') ? '.ts' : '.js'}`, fromUrl);
}

/** The loader a new process or thread needs to run `url`: tsx for TypeScript sources, nothing for built JavaScript. */
export function needsTsx(url: URL | string): boolean {
  return String(url).endsWith('.ts');
}
