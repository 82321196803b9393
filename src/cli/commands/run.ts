// `emlens run ANALYSIS [--params JSON|FILE] [--out RUN]` and `emlens list`. No tensor axes at this level.
import type { Command } from 'commander';
import { join } from 'node:path';
import { addBackendOption, resolveModelDir, startBackend } from '../model-options.ts';
import { ANALYSES, findAnalysis } from '../../../analyses/index.ts';
import { Workspace } from '../../study/workspace.ts';
import { analysisParams, runAnalysis } from '../../study/analysis.ts';
import { UsageError } from '../../util/log.ts';
import { printResult } from '../output.ts';
import { addJudgeOptions, judgeFromOptions, type JudgeOpts } from '../judge-options.ts';
import { readJsonObjectArg } from '../parse.ts';
import { guardOutput } from '../../util/fs.ts';
import { lockRunFolder } from '../../util/lock.ts';
import { STUDY_FILES } from '../../study/analysis.ts';
import { addQueueOptions, useQueue, type QueueOpts } from '../queue-options.ts';

export function registerRun(program: Command): void {
  program
    .command('list')
    .description('list the analyses')
    .option('--json', 'print one JSON document')
    .action((o: { json?: boolean }) => {
      printResult(o.json, ANALYSES.map((a) => ({ name: a.name, description: a.description, params: a.defaults })), () => ANALYSES.map((a) => `${a.name.padEnd(22)} ${a.description}`).join('\n'));
    });
  const run = program.command('run').description('run one analysis; fine-tunes, evals and directions are cached under RUN').argument('<analysis>', 'a name from `emlens list`');
  run.option('--model <dir>', 'HF model folder (default: the built-in organism)');
  addQueueOptions(addJudgeOptions(addBackendOption(run)))
    .option('--params <json|file>', 'JSON object (inline, or a file) overriding the analysis defaults')
    .option('--out <run>', 'run folder', 'runs/study')
    .option('--json', 'print one JSON document')
    .action(async (name: string, o: JudgeOpts & QueueOpts & { model?: string; backend: string; params?: string; out: string; json?: boolean }) => {
      const a = findAnalysis(name);
      if (!a) throw new UsageError(`run: unknown analysis "${name}" (see emlens list: ${ANALYSES.map((x) => x.name).join(', ')})`);
      const params = o.params === undefined ? {} : readJsonObjectArg(o.params, '--params', 'analysis parameters');
      analysisParams(a, params); // names, types and ranges checked before any work
      guardOutput(o.out, { flag: '--out', kind: 'dir', ownedIf: STUDY_FILES });
      lockRunFolder(o.out, `run ${name}`); // one process per study folder; released on exit
      await startBackend(o.backend);
      const ws = new Workspace(o.out, resolveModelDir(o.model));
      ws.judge = judgeFromOptions(o);
      const queued = await useQueue(o, ws);
      let report;
      try {
        // every fine-tune but the first is trained ahead on a second core while the analysis works on the first (all
        // of them on the queue's workers)
        ws.trainAhead((a.finetunes?.(ws, analysisParams(a, params)) ?? []).slice(queued ? 0 : 1));
        report = await runAnalysis(a, ws, params);
      } finally {
        // whatever failed, the queue's connections are closed: an open one would keep the process from exiting
        ws.close();
        await queued?.close();
      }
      printResult(o.json, report, () => `${name} → ${join(o.out, 'analyses', `${name}.json`)}`);
    });
}
