// The package's version (package.json), for run records, reports and `--version`. No tensor axes.
import { readFileSync } from 'node:fs';

export const EMLENS_VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
  } catch {
    return 'unknown';
  }
})();
