// The reliability battery's representative subset (`npm run check:inputs` runs all of it): each malformed input
// through the real CLI gives one `emlens:` line naming the file, line, key or flag, exit 1 (2 for usage), no stack
// trace, nothing written or overwritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCases, runCases, table } from './battery.ts';

test('the battery holds at least 100 malformed inputs across commands', () => {
  const cases = buildCases();
  assert.ok(cases.length >= 100, `${cases.length} cases`);
  const commands = new Set(cases.map((c) => c.args[0]));
  for (const c of ['forward', 'tokenize', 'train', 'eval', 'extract', 'compare', 'run', 'demo', 'serve', 'organism', 'orthogonalize', 'generate', 'refusal']) assert.ok(commands.has(c), c);
});

test('malformed inputs through the CLI (the quick subset): one emlens: line naming what is wrong, the right exit code, nothing written', async () => {
  const quick = buildCases().filter((c) => c.quick);
  const results = await runCases(quick, 2);
  const failed = results.filter((r) => !r.pass);
  assert.equal(failed.length, 0, `\n${table(results)}`);
});
