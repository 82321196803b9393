// Which Chromium the page tests use: EMLENS_CHROMIUM / PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH first, then one on PATH,
// then the one packed in @sparticuz/chromium (the only one this project's machines have without apt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findChromium } from '../browser.ts';

const fakeBin = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'emlens-bin-'));
  writeFileSync(join(dir, name), '#!/bin/sh\n');
  chmodSync(join(dir, name), 0o755);
  return dir;
};

test('the environment variable comes first, then PATH, then @sparticuz/chromium', async () => {
  const pathDir = fakeBin('chromium-browser');
  const own = join(fakeBin('my-chrome'), 'my-chrome');
  assert.equal((await findChromium({ EMLENS_CHROMIUM: own, PATH: pathDir })).source, 'EMLENS_CHROMIUM');
  assert.equal((await findChromium({ PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH: own, PATH: pathDir })).executablePath, own);
  const onPath = await findChromium({ PATH: `/nonexistent:${pathDir}` });
  assert.equal(onPath.executablePath, join(pathDir, 'chromium-browser'));
  assert.ok(onPath.args.includes('--no-sandbox'));
  const packed = await findChromium({ PATH: '/nonexistent' });
  assert.match(packed.source, /^@sparticuz\/chromium \d+/);
  assert.ok(!packed.args.includes('--single-process') && !packed.args.includes('--disable-web-security'), packed.args.join(' '));
});

test('a variable naming a missing file is one clear error, not a silent fallback', async () => {
  await assert.rejects(findChromium({ EMLENS_CHROMIUM: '/no/such/chromium' }), /^Error: EMLENS_CHROMIUM=\/no\/such\/chromium: no such file$/);
});
