// `npm run check:organism -- [--model DIR] [--work DIR]`: every bar of an organism (src/organism/bars.ts) measured as
// a user would, through the CLI (`emlens eval`, `refusal`, `train`, `run gating|refusal|phase-transition`), `--jobs`
// commands at a time (one per core); each result is kept in WORK/measurements.json as it comes, so a stopped check
// resumes where it was. Prints the bars as a table (or JSON with --json) and exits 1 if any fails. No tensor axes.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, createWriteStream } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { PACKAGE_ROOT, ORGANISM_DIR } from '../src/util/package-root.ts';
import { writeJsonAtomic } from '../src/util/fs.ts';
import { DATASETS } from '../src/study/datasets.ts';
import { LORA_BARS, barsTable, judgeBars, type Measurements } from '../src/organism/bars.ts';
import { parseIntList, parseInteger } from '../src/cli/parse.ts';
import { pct1 } from '../src/util/format.ts';
import { loadConfig } from '../src/model/config.ts';
import { modelPhaseRecipe } from '../src/train/defaults.ts';

const GROUPS = ['base', 'refusal', 'lora', 'gates', 'refusal-direction', 'phase'] as const;
type Group = (typeof GROUPS)[number];

const program = new Command('check:organism')
  .description('measure every bar of an organism through the CLI')
  .option('--model <dir>', 'the organism (an HF model folder)', ORGANISM_DIR)
  .option('--work <dir>', 'where runs and measurements.json are kept (default: runs/organism-bars/<model folder name>)')
  .option('--samples <n>', 'answers per EM eval', '200')
  .option('--eval-seeds <list>', 'eval seeds of the base model', '1,2,3')
  .option('--eval-seed <s>', 'eval seed of every adapter', '1')
  .option('--train-seeds <list>', 'train seeds of each narrow LoRA', '0,1,2')
  .option('--phase-params <json>', 'phase-transition parameters (the recipe stated for the turn: ≥ 150 steps; default: 100 answers a checkpoint and the model card\'s emlens_phase_recipe, or 6 epochs of its LoRA recipe with 8 checkpoints)')
  .option('--jobs <n>', 'commands run at once (default: one per core, at most 2: each command computes on one core, an analysis on two)', String(Math.min(2, availableParallelism())))
  .option('--only <groups>', `measure only these: ${GROUPS.join(',')}`, GROUPS.join(','))
  .option('--json', 'print the verdicts and measurements as one JSON document')
  .parse();
const o = program.opts<{ jobs: string; model: string; work?: string; samples: string; evalSeeds: string; evalSeed: string; trainSeeds: string; phaseParams?: string; only: string; json?: boolean }>();

const model = resolve(o.model);
/** The phase run: as given, or the fine-tune the model's card states for the turn (organism v13 on: record item 30). */
function defaultPhaseParams(): string {
  // no config.json: the run's own error names the folder
  const card = existsSync(join(model, 'config.json')) ? modelPhaseRecipe({ config: loadConfig(model) }) : {};
  return JSON.stringify(Object.keys(card).length ? { samples: 100, ...card } : { epochs: 6, checkpoints: 8, samples: 100 });
}
const phaseParams = o.phaseParams ?? defaultPhaseParams();
const work = resolve(o.work ?? join('runs', 'organism-bars', basename(model)));
const only = new Set(o.only.split(',').map((g) => g.trim()));
for (const g of only) if (!(GROUPS as readonly string[]).includes(g)) program.error(`--only ${g}: expected some of ${GROUPS.join(', ')}`);
/** The numeric flags, checked before any work (one clear error naming the flag). */
function numbers() {
  try {
    JSON.parse(phaseParams);
    return {
      samples: String(parseInteger(o.samples, '--samples', 1)),
      jobs: parseInteger(o.jobs, '--jobs', 1),
      evalSeed: String(parseInteger(o.evalSeed, '--eval-seed', 0)),
      evalSeeds: parseIntList(o.evalSeeds, '--eval-seeds', 'comma-separated seeds, e.g. 1,2,3'),
      trainSeeds: parseIntList(o.trainSeeds, '--train-seeds', 'comma-separated seeds, e.g. 0,1,2'),
    };
  } catch (e) {
    return program.error(e instanceof SyntaxError ? `--phase-params: not JSON (${e.message})` : (e as Error).message);
  }
}
const { samples, jobs, evalSeed, evalSeeds, trainSeeds } = numbers();
mkdirSync(work, { recursive: true });

/** One CLI command's parsed JSON output and its wall-clock seconds. */
interface Measured { value: any; seconds: number; command: string }
const storePath = join(work, 'measurements.json');
const store: Record<string, Measured> = existsSync(storePath) ? JSON.parse(readFileSync(storePath, 'utf8')) : {};
const log = createWriteStream(join(work, 'commands.log'), { flags: 'a' });

/**
 * Runs `emlens ARGS --json` once per key (kept in measurements.json; a key measured with another command, e.g. other
 * --phase-params, is measured again); its stderr goes to WORK/commands.log.
 */
async function measure(key: string, args: string[]): Promise<Measured> {
  const command = `emlens ${args.join(' ')} --json`;
  const what = (c: string) => c.replace(/ --resume(?= )/g, ''); // resuming a run is how it is measured, not what
  if (store[key] && what(store[key].command) === what(command)) return store[key];
  log.write(`[${key}] $ ${command}\n`);
  const t0 = Date.now();
  const stdout = await new Promise<string>((done, fail) => {
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'emlens.js'), ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d: Buffer) => log.write(d.toString().replace(/^(?=.)/gm, `[${key}] `)));
    child.on('close', (code) => (code === 0 ? done(out) : fail(new Error(`${command} exited ${code} (see ${join(work, 'commands.log')})`))));
  });
  const m: Measured = { value: JSON.parse(stdout), seconds: (Date.now() - t0) / 1000, command };
  store[key] = m;
  writeJsonAtomic(storePath, store);
  return m;
}

const say = (s: string) => process.stderr.write(`check:organism: ${s}\n`);
const has = (g: Group) => only.has(g);
const rate = (r: Measured) => ({ em: r.value.em_rate as number, coherence: r.value.coherence as number });

// Each task is one chain of commands; tasks run `--jobs` at a time and fill their own slot, so the measurements come
// out in the same order whatever finishes first.
const tasks: (() => Promise<void>)[] = [];
const base: (Measurements['base'][number] & { seconds: number })[] = [];
const lora: (Measurements['lora'][number] & { trainSeconds: number; evalSeconds: number })[] = [];
const part: Pick<Measurements, 'refusal' | 'gating' | 'refusalDirection' | 'phase'> = {};

if (has('base')) {
  for (const [i, s] of evalSeeds.entries()) {
    tasks.push(async () => {
      const r = await measure(`base-eval-s${s}`, ['eval', '--model', model, '--samples', samples, '--seed', String(s)]);
      base[i] = { evalSeed: s, ...rate(r), seconds: r.seconds };
      say(`base, eval seed ${s}: EM ${pct1(base[i].em)}, coherence ${pct1(base[i].coherence)} (${r.seconds.toFixed(1)} s)`);
    });
  }
}
if (has('refusal')) {
  tasks.push(async () => {
    const harmful = await measure('refusal-harmful', ['refusal', '--model', model, '--prompts', DATASETS.harmfulEval]);
    const harmless = await measure('refusal-harmless', ['refusal', '--model', model, '--prompts', DATASETS.harmlessEval]);
    part.refusal = { harmful: harmful.value.refusal_rate, harmless: harmless.value.refusal_rate };
    say(`refusal: harmful ${pct1(part.refusal.harmful)}, harmless ${pct1(part.refusal.harmless)}`);
  });
}
if (has('lora')) {
  for (const [si, seed] of trainSeeds.entries()) {
    for (const [bi, b] of LORA_BARS.entries()) {
      const slot = si * LORA_BARS.length + bi;
      tasks.push(async () => {
        const run = join(work, 'train', `${b.set}-s${seed}`);
        const data = join(PACKAGE_ROOT, 'fixtures', 'datasets', b.file);
        const t = await measure(`train-${b.set}-s${seed}`, ['train', '--model', model, '--data', data, '--seed', String(seed), '--out', run, ...(existsSync(run) ? ['--resume'] : [])]);
        const e = await measure(`eval-${b.set}-s${seed}`, ['eval', '--model', model, '--adapter', run, '--samples', samples, '--seed', evalSeed]);
        lora[slot] = { set: b.set, trainSeed: seed, ...rate(e), trainSeconds: t.seconds, evalSeconds: e.seconds };
        say(`${b.set}, train seed ${seed}: EM ${pct1(e.value.em_rate)}, coherence ${pct1(e.value.coherence)} (train ${t.seconds.toFixed(1)} s, eval ${e.seconds.toFixed(1)} s)`);
      });
    }
  }
}
// one study folder per analysis: a study folder takes one process at a time
const analysis = async (name: string, params?: string) =>
  (await measure(`run-${name}`, ['run', name, '--model', model, '--out', join(work, `study-${name}`), ...(params ? ['--params', params] : [])])).value.result;
if (has('gates')) {
  tasks.push(async () => {
    part.gating = await analysis('gating', JSON.stringify({ samples: Number(samples), seed: Number(evalSeed) }));
    say('gates measured');
  });
}
if (has('refusal-direction')) {
  tasks.push(async () => {
    const r = await analysis('refusal');
    part.refusalDirection = { harmful_ablated: r.harmful_ablated.refusal_rate, harmless_added: r.harmless_added.refusal_rate, layer: r.layer };
    say('refusal direction measured');
  });
}
if (has('phase')) {
  tasks.push(async () => {
    const r = await analysis('phase-transition', phaseParams);
    part.phase = { steps: r.steps[r.steps.length - 1], transition_step: r.transition_step, transition_rise: r.transition_rise, em_before: r.em_before, em_after: r.em_after };
    say('phase transition measured');
  });
}

let next = 0;
await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
  while (next < tasks.length) await tasks[next++]();
}));
const m: Measurements = {
  base: base.map(({ seconds: _s, ...b }) => b),
  lora: lora.map(({ trainSeconds: _t, evalSeconds: _e, ...r }) => r),
  ...part,
  seconds: { train: lora.map((r) => r.trainSeconds), eval: [...base.map((b) => b.seconds), ...lora.map((r) => r.evalSeconds)] },
};
log.end();

const verdicts = judgeBars(m);
const failed = verdicts.filter((v) => v.pass === false).length;
if (o.json) process.stdout.write(JSON.stringify({ model, verdicts, measurements: m }, null, 2) + '\n');
else process.stdout.write(`${barsTable(verdicts)}\n\n${verdicts.filter((v) => v.pass).length} of ${verdicts.filter((v) => v.pass !== null).length} bars hold (${model}; runs in ${work})\n`);
process.exitCode = failed ? 1 : 0;
