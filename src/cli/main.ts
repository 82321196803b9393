// The `emlens` command line: parses flags, calls library functions, maps errors to one line and an exit code.
// No tensor axes.
import { Command, CommanderError } from 'commander';
import { registerForward } from './commands/forward.ts';
import { registerTokenize } from './commands/tokenize.ts';
import { registerGenerate } from './commands/generate.ts';
import { registerTrain } from './commands/train.ts';
import { registerOrganism } from './commands/organism.ts';
import { registerEval } from './commands/eval.ts';
import { registerDirections } from './commands/directions.ts';
import { registerRun } from './commands/run.ts';
import { registerServe } from './commands/serve.ts';
import { registerDemo } from './commands/demo.ts';
import { registerQueue, registerWorker } from './commands/worker.ts';
import { registerOrthogonalize } from './commands/orthogonalize.ts';
import { registerExportDirection } from './commands/export-direction.ts';
import { UserError } from '../util/log.ts';
import { commandOf, withFlag } from './flags.ts';
import { BackendError } from '../backend/select.ts';
import { EMLENS_VERSION } from '../util/version.ts';

export function buildProgram(): Command {
  const program = new Command('emlens')
    .description('Activation directions behind emergent misalignment: adapters, directions, interventions, reports')
    .version(EMLENS_VERSION)
    .exitOverride()
    // commander's own usage errors as every other error: one line, `emlens:` first (subcommands inherit this)
    .configureOutput({ outputError: (text, write) => write(`emlens: ${text.replace(/^error: /, '').trim()} (see --help)\n`) });
  registerForward(program);
  registerTokenize(program);
  registerGenerate(program);
  registerTrain(program);
  registerOrganism(program);
  registerEval(program);
  registerDirections(program);
  registerOrthogonalize(program);
  registerExportDirection(program);
  registerRun(program);
  registerServe(program);
  registerDemo(program);
  registerWorker(program);
  registerQueue(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (caught) {
    if (caught instanceof CommanderError) return caught.exitCode === 0 ? 0 : 2; // commander already printed the message
    const e = withFlag(caught, commandOf(program, argv.slice(2))); // a library parameter said as the flag that set it
    if (e instanceof UserError) {
      process.stderr.write(`emlens: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof BackendError || e instanceof RangeError) {
      process.stderr.write(`emlens: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`emlens: ${(e as Error).message ?? e}\n`);
    if (process.env.EMLENS_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  process.exitCode = await main();
}
