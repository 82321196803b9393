// `emlens demo [--out RUN] [--no-serve] [--quick] [--name NAME] [--description TEXT]`: the whole study on the organism, then its report served.
// No tensor axes at this level.
import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { addBackendOption, resolveModelDir, startBackend } from '../model-options.ts';
import { runDemo } from '../../study/demo.ts';
import { ANALYSES } from '../../../analyses/index.ts';
import { createApp } from '../../../server/app.ts';
import { log, UsageError } from '../../util/log.ts';
import { printResult } from '../output.ts';
import { parsePort } from '../parse.ts';
import { addQueueOptions, useQueue, type QueueOpts } from '../queue-options.ts';
import type { QueueSteps } from '../../queue/coordinator.ts';
import { guardOutput } from '../../util/fs.ts';
import { lockRunFolder } from '../../util/lock.ts';
import { STUDY_FILES } from '../../study/analysis.ts';

export function registerDemo(program: Command): void {
  const cmd = program.command('demo').description('run the whole study on the organism (or --model) and serve its report; stages are cached, so it resumes');
  cmd.option('--model <dir>', 'HF model folder (default: the built-in organism)');
  addQueueOptions(addBackendOption(cmd))
    .option('--out <run>', 'run folder', 'runs/demo')
    .option('--quick', 'fewer samples and sweep points (a first look)')
    .option('--name <name>', "the run's name in report.json, shown by the index and the run page (default: the --out folder's name)")
    .option('--description <text>', 'what the run is for, in a sentence (default: what the demo runs)')
    .option('--no-serve', 'write the report and exit')
    .option('--port <p>', 'port for the report server', '8080')
    .option('--json', 'print one JSON document (the report)')
    .action(async (o: QueueOpts & { model?: string; backend: string; out: string; quick?: boolean; serve: boolean; port: string; json?: boolean; name?: string; description?: string }) => {
      const port = parsePort(o.port); // a bad --port is a usage error now, not after the whole study
      if (o.name !== undefined && !o.name.trim()) throw new UsageError('--name: give a non-empty name');
      guardOutput(o.out, { flag: '--out', kind: 'dir', ownedIf: STUDY_FILES });
      lockRunFolder(o.out, 'demo'); // one process per study folder; released on exit
      await startBackend(o.backend);
      let queued: QueueSteps | undefined;
      const { report, file } = await runDemo({ analyses: ANALYSES, out: o.out, modelDir: resolveModelDir(o.model), quick: Boolean(o.quick), name: o.name, description: o.description, prepare: async (ws) => void (queued = await useQueue(o, ws)) }).finally(() => queued?.close());
      printResult(o.json, report, () => `report: ${file} (${report.seconds} s)`);
      if (!o.serve) return;
      const runs = dirname(resolve(o.out));
      const server = createApp(runs).listen(port, '127.0.0.1');
      await new Promise<void>((ok, fail) => server.once('listening', ok).once('error', fail));
      const addr = server.address() as { port: number };
      const url = `http://127.0.0.1:${addr.port}/runs/${encodeURIComponent(resolve(o.out).split('/').pop()!)}`;
      // with --json stdout holds the report alone; the address is a log line then
      if (o.json) log(`serving ${runs} at ${url} (Ctrl-C to stop)`);
      else {
        log(`serving ${runs} (Ctrl-C to stop)`);
        process.stdout.write(`${url}\n`);
      }
      await new Promise<void>((done) => process.once('SIGINT', () => server.close(() => done())));
    });
}
