// `emlens serve [RUNS_DIR]` (the report server, 127.0.0.1 by default) and `emlens export RUN --html FILE`
// (one self-contained HTML that opens offline). No tensor axes.
import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createApp } from '../../../server/app.ts';
import { readRunAt } from '../../../server/runs.ts';
import { runPage } from '../../../server/pages.ts';
import { vizBundle } from '../../../server/bundle.ts';
import { writeFileAtomic } from '../../util/fs.ts';
import { UserError, log } from '../../util/log.ts';
import { parsePort } from '../parse.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve every run’s report (index, run pages, JSON and tensors under /api)')
    .argument('[runs_dir]', 'folder of runs', 'runs')
    .option('--port <p>', 'port (0 = any free one)', '8080')
    .option('--host <h>', 'address to bind', '127.0.0.1')
    .action(async (runsDir: string, o: { port: string; host: string }) => {
      if (!existsSync(runsDir)) throw new UserError(`serve: ${runsDir} does not exist`);
      const port = parsePort(o.port);
      const server = createApp(runsDir, { host: o.host }).listen(port, o.host);
      await new Promise<void>((ok, fail) => server.once('listening', ok).once('error', (e: Error) => fail(new UserError(`serve: cannot listen on ${o.host}:${port}: ${e.message}`))));
      const addr = server.address() as { port: number };
      log(`serving ${resolve(runsDir)}`);
      process.stdout.write(`http://${o.host}:${addr.port}/\n`);
      await new Promise<void>((done) => process.once('SIGINT', () => server.close(() => done())));
    });

  program
    .command('export')
    .description('write one self-contained HTML report of a run (data and scripts inlined; opens offline)')
    .argument('<run>', 'run folder')
    .requiredOption('--html <file>', 'HTML file to write')
    .action(async (run: string, o: { html: string }) => {
      if (!existsSync(run) || !statSync(run).isDirectory()) throw new UserError(`export: ${run} is not a run folder`);
      const r = await readRunAt(resolve(run), basename(resolve(run)));
      const evalData = Object.fromEntries(r.evals.map((e) => {
        const file = join(run, 'evals', `${e}.json`);
        try {
          return [e, JSON.parse(readFileSync(file, 'utf8'))];
        } catch {
          throw new UserError(`export: ${file}: malformed JSON (half written?)`);
        }
      }));
      writeFileAtomic(o.html, runPage(r.name, { bundle: await vizBundle(), report: { ...r, evalData }, standalone: true }));
      process.stdout.write(`${o.html}\n`);
    });
}
