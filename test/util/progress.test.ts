// Progress lines on a non-TTY stream: rate and ETA from this session's work of about the last minute (a resumed run's
// restored steps count as done, not toward the rate; a pause fades from the rate). A fake clock, so no test waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress, formatSeconds } from '../../src/util/progress.ts';

function fakeStream() {
  const lines: string[] = [];
  return { lines, stream: { isTTY: false, write: (s: string) => (lines.push(s), true) } };
}

test('a resumed run: restored steps are done but not in the rate, so the ETA is what is left at this pace', () => {
  let t = 0;
  const { lines, stream } = fakeStream();
  const p = new Progress('build', 5400, 'step', stream as never, () => t);
  p.resumeAt(2250);
  for (let i = 0; i < 10; i++) {
    t += 1000; // one step a second
    p.tick();
  }
  p.finish();
  const last = lines.at(-1)!;
  assert.match(last, /^build: 42% 2260\/5400 step · 1\.00 step\/s · ETA 52m20s\n$/);
});

test('ticking the restored steps instead would count them in the rate (what resumeAt exists to avoid)', () => {
  let t = 0;
  const { lines, stream } = fakeStream();
  const p = new Progress('build', 5400, 'step', stream as never, () => t);
  p.tick(2250);
  t += 10_000;
  p.tick(10);
  assert.match(lines.at(-1)!, /226 step\/s/);
});

test('the rate is that of about the last minute: after a pause it recovers within a minute, not over the whole run', () => {
  let t = 0;
  const { lines, stream } = fakeStream();
  const p = new Progress('build', 5400, 'step', stream as never, () => t);
  const steps = (n: number) => {
    for (let i = 0; i < n; i++) {
      t += 1000; // one step a second
      p.tick();
    }
  };
  steps(100);
  t += 540_000; // the process is stopped for 9 minutes
  steps(10);
  const justAfter = Number(/· ([\d.]+) step\/s/.exec(lines.at(-1)!)![1]);
  assert.ok(justAfter < 0.5, `right after the pause the last minute's rate is low (${justAfter})`);
  steps(65);
  p.finish();
  // the whole run's average would read 175 / 715 s = 0.24 step/s and an ETA of 5 h 55 min
  assert.match(lines.at(-1)!, /^build: 3% 175\/5400 step · 1\.00 step\/s · ETA 1h27m\n$/);
});

test('nothing is drawn for work that ends within two seconds; lines at most every 5 s off a TTY', () => {
  let t = 0;
  const { lines, stream } = fakeStream();
  const p = new Progress('quick', 100, 'it', stream as never, () => t);
  for (let i = 0; i < 100; i++) {
    t += 15;
    p.tick();
  }
  p.finish();
  assert.deepEqual(lines, []);
  const slow = new Progress('slow', 100, 'it', stream as never, () => t);
  for (let i = 0; i < 100; i++) {
    t += 1000;
    slow.tick();
  }
  assert.equal(lines.length, 20); // from 2 s on, one line per 5 s over 100 s (the first at 2 s)
});

test('formatSeconds: seconds, minutes, hours, and ? for an unknown ETA', () => {
  assert.equal(formatSeconds(42.4), '42s');
  assert.equal(formatSeconds(125), '2m05s');
  assert.equal(formatSeconds(179.6), '3m00s'); // not 2m60s
  assert.equal(formatSeconds(59.7), '1m00s');
  assert.equal(formatSeconds(3 * 3600 + 7 * 60), '3h07m');
  assert.equal(formatSeconds(Infinity), '?');
});
