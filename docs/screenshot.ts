// Takes docs/report.png: a run's page served by the report server on 127.0.0.1, opened in headless Chromium (the one
// the page tests use: test/browser.ts), the top of the page (findings summary above the fold) at 2× for sharp text.
// Usage: node --import tsx docs/screenshot.ts RUN_FOLDER [OUT.png] [--width 1280] [--height 900]. No tensor axes.
import { basename, dirname, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp } from '../server/app.ts';
import { launchChromium } from '../test/browser.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args.splice(i, 2)[1]);
  if (!Number.isInteger(v) || v < 200) throw new Error(`${name}: expected a width/height in pixels`);
  return v;
};
const width = flag('--width', 1280), height = flag('--height', 900);
const [run, out = resolve(import.meta.dirname, 'report.png')] = args;
if (!run) {
  process.stderr.write('usage: node --import tsx docs/screenshot.ts RUN_FOLDER [OUT.png] [--width W] [--height H]\n');
  process.exit(2);
}
const server = createApp(dirname(resolve(run))).listen(0, '127.0.0.1');
await new Promise((ok) => server.once('listening', ok));
const { browser } = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 2 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/runs/${encodeURIComponent(basename(resolve(run)))}`);
  await page.waitForSelector('body[data-ready]');
  if (errors.length) throw new Error(`the page failed: ${errors.join('; ')}`);
  await page.screenshot({ path: out });
  process.stderr.write(`${out}: ${width}×${height} CSS px at 2×\n`);
} finally {
  await browser.close();
  server.close();
}
