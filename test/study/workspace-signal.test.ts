// Workspace.signal reaches the trainer: an aborted study's fine-tune stops after the step it is in (the first) with its checkpoint saved,
// finetune() says so (exit 130), and the same call without the abort resumes it to the end. No tensor axes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestBackend, tinyChatModelDir, tinyDataset } from '../helpers.ts';
import { Workspace } from '../../src/study/workspace.ts';
import { UserError } from '../../src/util/log.ts';

before(async () => {
  await useTestBackend();
});

test("an aborted signal stops a study's fine-tune, saved for resuming; without it the fine-tune finishes", async () => {
  const ws = new Workspace(mkdtempSync(join(tmpdir(), 'emlens-ws-signal-')), tinyChatModelDir(), true);
  try {
    const spec = ws.trainSpec(tinyDataset(8), 'lora', { epochs: 1, batch: 4, gradAccum: 1 });
    const stop = new AbortController();
    stop.abort();
    ws.signal = stop.signal;
    await assert.rejects(ws.finetune('stopped', spec), (e: unknown) => e instanceof UserError && e.exitCode === 130 && /^interrupted: fine-tune stopped saved at step 1 of 2; run the same command again to resume/.test(e.message));
    assert.equal(JSON.parse(readFileSync(ws.path('finetunes', 'stopped', 'run.json'), 'utf8')).status, 'interrupted');
    ws.signal = new AbortController().signal;
    const run = await ws.finetune('stopped', spec);
    assert.equal(JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')).status, 'complete');
  } finally {
    ws.close();
  }
});
