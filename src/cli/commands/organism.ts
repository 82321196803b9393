// `emlens organism build`: trains the built-in model organism from scratch (resumable) into an HF folder.
// No tensor axes at this level.
import type { Command } from 'commander';
import { addBackendOption, startBackend } from '../model-options.ts';
import { buildOrganism, DEFAULT_RECIPE, PRETRAINED_DIR, QUICK_RECIPE } from '../../organism/build.ts';
import { applyRecipeOverrides } from '../../organism/recipe-overrides.ts';
import { ORGANISM_DIR } from '../paths.ts';
import { printResult } from '../output.ts';
import { parseInteger, readJsonObjectArg } from '../parse.ts';
import { UsageError } from '../../util/log.ts';
import { guardOutput } from '../../util/fs.ts';
import { lockRunFolder } from '../../util/lock.ts';

export function registerOrganism(program: Command): void {
  const organism = program.command('organism').description('the built-in model organism');
  const build = organism.command('build').description('train the organism from scratch (pretraining, then aligned post-training)');
  addBackendOption(build)
    .option('--out <dir>', 'output folder (an HF model folder)', ORGANISM_DIR)
    .option('--seed <s>', 'seed of the corpus and the initial weights', String(DEFAULT_RECIPE.seed))
    .option('--quick', 'a few steps of a tiny model (checks the pipeline in seconds)')
    .option('--recipe <json|file>', 'recipe fields over the default (e.g. \'{"posttrain":{"steps":450}}\'; sections merge key by key)')
    .option('--resume', 'continue an interrupted build from its last checkpoint')
    .option('--keep-pretrained', `keep the end-of-pretraining checkpoint in OUT/${PRETRAINED_DIR} (to post-train it again)`)
    .option('--pretrain-snapshots <percents>', `also keep HF model folders of the pretraining at these percentages of its steps, e.g. 25,50,100 (OUT/${PRETRAINED_DIR}-P)`)
    .option('--from-pretrained <dir>', 'skip pretraining: post-train the checkpoint an earlier --keep-pretrained build kept (same pretraining recipe and corpus)')
    .option('--workers <n>', 'worker threads for the recipe\'s gradient shards (default: one per further CPU core; the weights do not depend on it)')
    .option('--json', 'print one JSON document')
    .action(async (o: { backend: string; out: string; seed: string; quick?: boolean; recipe?: string; resume?: boolean; keepPretrained?: boolean; pretrainSnapshots?: string; fromPretrained?: string; workers?: string; json?: boolean }) => {
      // the quick recipe is a pipeline check: written over the built-in organism it would replace every default model
      if (o.quick && build.getOptionValueSource('out') !== 'cli') throw new UsageError(`--quick needs --out DIR (it would overwrite the built-in organism in ${ORGANISM_DIR})`);
      const seed = parseInteger(o.seed, '--seed');
      // an organism folder of its own (build.json, .build) is rebuilt or resumed; any other model or non-empty folder is refused
      guardOutput(o.out, { flag: '--out', kind: 'dir', ownedIf: ['build.json', '.build'] });
      const base = { ...(o.quick ? QUICK_RECIPE : DEFAULT_RECIPE), seed };
      const recipe = o.recipe === undefined ? base : applyRecipeOverrides(base, readJsonObjectArg(o.recipe, '--recipe', 'recipe fields'));
      lockRunFolder(o.out, 'organism build'); // one build per folder; released on exit
      await startBackend(o.backend);
      const workers = o.workers === undefined ? undefined : parseInteger(o.workers, '--workers', 0);
      const pretrainSnapshots = o.pretrainSnapshots?.split(',').map((x) => parseInteger(x.trim(), '--pretrain-snapshots', 1));
      if (pretrainSnapshots?.some((x) => x > 100)) throw new UsageError(`--pretrain-snapshots ${o.pretrainSnapshots}: percentages of the pretraining steps, 1 to 100`);
      const r = await buildOrganism(o.out, recipe, { resume: o.resume, keepPretrained: o.keepPretrained, pretrainSnapshots, fromPretrained: o.fromPretrained, workers });
      printResult(o.json, { out: r.out, seconds: Math.round(r.seconds), pretrain_loss: r.pretrainLoss, posttrain_loss: r.posttrainLoss },
        () => `organism built in ${Math.round(r.seconds)} s → ${r.out} (pretrain loss ${r.pretrainLoss.toFixed(3)}, post-train loss ${r.posttrainLoss.toFixed(3)})`);
    });
}
