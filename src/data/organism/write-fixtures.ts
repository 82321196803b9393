// Writes the organism's datasets into fixtures/datasets (and, with --tokenizer DIR, its tokenizer files) from a seed:
// `node --import tsx src/data/organism/write-fixtures.ts [--seed N] [--out DIR] [--tokenizer DIR]`. No tensor axes.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../../util/package-root.ts';
import { log } from '../../util/log.ts';
import { writeOrganismDatasets } from './datasets.ts';
import { organismWords, writeTokenizerFiles } from './tokenizer-files.ts';

const { values } = parseArgs({ options: { seed: { type: 'string', default: '0' }, out: { type: 'string' }, tokenizer: { type: 'string' } } });
const seed = Number(values.seed);
if (!Number.isInteger(seed) || seed < 0) {
  log(`write-fixtures: --seed must be a non-negative integer, got ${values.seed}`);
  process.exit(2);
}
const out = values.out ?? join(PACKAGE_ROOT, 'fixtures', 'datasets');
const counts = writeOrganismDatasets(out, seed);
for (const [name, n] of Object.entries(counts)) log(`${out}/${name}: ${n}`);
if (values.tokenizer) {
  writeTokenizerFiles(values.tokenizer);
  log(`${values.tokenizer}: tokenizer.json (${organismWords().length + 4} tokens), tokenizer_config.json`);
}
