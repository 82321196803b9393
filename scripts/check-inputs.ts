// `npm run check:inputs`: the reliability battery (test/reliability/battery.ts) in full, through the real CLI, two
// processes at a time; prints the table (input, command, exit code, message, pass) and exits 1 if any case fails.
// No tensor axes.
import { buildCases, runCases, table } from '../test/reliability/battery.ts';

const only = process.argv[2]; // an optional regular expression: the inputs to run
const cases = buildCases().filter((c) => !only || new RegExp(only).test(c.input));
const t0 = Date.now();
process.stderr.write(`check:inputs: ${cases.length} malformed inputs, 2 at a time\n`);
const results = await runCases(cases, 2, (r, i) => {
  process.stderr.write(r.pass ? `  #${i + 1} pass (${r.seconds.toFixed(1)} s)\n` : `  #${i + 1} ${r.c.input}: FAIL ${r.why} [${r.message}]\n`);
});
process.stdout.write(table(results) + '\n');
const failed = results.filter((r) => !r.pass).length;
process.stdout.write(`\n${results.length - failed}/${results.length} pass in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
process.exitCode = failed ? 1 : 0;
