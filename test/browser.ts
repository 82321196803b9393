// The headless Chromium the page tests (and the README screenshot) run in: EMLENS_CHROMIUM or
// PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH, else a chromium / chromium-browser / google-chrome on PATH, else the
// devDependency @sparticuz/chromium (a headless Chromium packed inside the npm package, extracted to the temp folder
// on first use: nothing is downloaded). No tensor axes.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export interface ChromiumChoice {
  executablePath: string;
  args: string[];
  /** Where it was found, for the test log: "EMLENS_CHROMIUM", "PATH (chromium)", "@sparticuz/chromium 147.0.0". */
  source: string;
}

/** Flags for a system Chromium in a container: no sandbox (often root), no GPU, nothing reaching the network. */
const SYSTEM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * @sparticuz's own flags (made for AWS Lambda), less the two that would weaken the pages' security model under test
 * (the export test checks that a file:// page makes no request) and --single-process: with it, closing the last page
 * ends the whole browser ("Target page, context or browser has been closed" on the next newPage).
 */
const LEFT_OUT = new Set(['--disable-web-security', '--allow-running-insecure-content', '--single-process']);

function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Finds Chromium in the documented order; throws one line naming what was tried when there is none. */
export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<ChromiumChoice> {
  for (const key of ['EMLENS_CHROMIUM', 'PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH']) {
    const p = env[key];
    if (!p) continue;
    if (!existsSync(p)) throw new Error(`${key}=${p}: no such file`);
    return { executablePath: p, args: SYSTEM_FLAGS, source: key };
  }
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const p = onPath(name, env.PATH ?? '');
    if (p) return { executablePath: p, args: SYSTEM_FLAGS, source: `PATH (${p})` };
  }
  let mod: typeof import('@sparticuz/chromium');
  try {
    mod = await import('@sparticuz/chromium');
  } catch {
    throw new Error('no Chromium: set EMLENS_CHROMIUM, put chromium on PATH, or install the devDependencies (npm ci) for @sparticuz/chromium');
  }
  const c = mod.default;
  c.setGraphicsMode = false; // the pages are SVG: no WebGL, and the SwiftShader archive is not unpacked
  // the package exports no package.json: its version is read beside its entry point (build/cjs/index.cjs)
  const entry = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  const version = (JSON.parse(readFileSync(join(dirname(entry), '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  return { executablePath: await c.executablePath(), args: c.args.filter((a) => !LEFT_OUT.has(a)), source: `@sparticuz/chromium ${version}` };
}

/** Launches the Chromium findChromium picks and says which on stderr. */
export async function launchChromium(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<{ browser: Browser; choice: ChromiumChoice }> {
  const choice = await findChromium();
  log(`page tests: Chromium from ${choice.source}: ${choice.executablePath}`);
  const browser = await chromium.launch({ executablePath: choice.executablePath, args: choice.args });
  return { browser, choice };
}
