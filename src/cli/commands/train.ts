// `emlens train`: fine-tune a LoRA, alignment gates, a steering vector or the model's weights (full) on chat JSONL
// (cli.md), with the research recipe's defaults (rank-1 rsLoRA on down_proj of the middle layer). No tensor axes here.
import type { Command } from 'commander';
import { addBackendOption, resolveModelDir, startBackend } from '../model-options.ts';
import { loadModel } from '../../model/load.ts';
import { ChatTokenizer } from '../../model/tokenizer.ts';
import { train, type TrainOptions } from '../../train/trainer.ts';
import { parseGateKind } from '../../adapters/gates.ts';
import { LINEAR_NAMES, type LinearName } from '../../model/modules.ts';
import { UsageError, log } from '../../util/log.ts';
import { readTrainConfig } from '../../formats/train-config.ts';
import { printResult } from '../output.ts';
import { DEFAULT_LR, TRAIN_DEFAULTS, middleLayer } from '../../train/defaults.ts';
import { RECIPE_FLAGS, trainDefaultsFor, type AdapterKind } from '../../train/default-sources.ts';
import { loadConfig } from '../../model/config.ts';
import type { Model } from '../../model/modules.ts';
import { checkLayersInRange, parseIntList, parseInteger, parseNumber, parseTargets } from '../parse.ts';
import { loadConfig as modelConfigOf } from '../../model/config.ts';

interface TrainCliOpts {
  model?: string;
  backend: string;
  config?: string;
  data: string;
  out: string;
  adapter: string;
  rank: string;
  alpha: string;
  rslora: boolean;
  layers?: string;
  params?: string;
  targets: string;
  gateKind: string;
  dropout: string;
  epochs: string;
  lr?: string;
  batch: string;
  gradAccum: string;
  warmup: string;
  weightDecay: string;
  maxGradNorm: string;
  adamEps?: string;
  saveEvery: string;
  keepCheckpoints: string;
  snapshotSteps?: string;
  klWeight: string;
  klData?: string;
  maxLen?: string;
  maxSteps?: string;
  earlyStop: boolean;
  seed: string;
  resume?: boolean;
  json?: boolean;
}

const D = TRAIN_DEFAULTS;

/** Optimizer steps, comma-separated, each ≥ 1; each once, in order. */
function parseSteps(s: string, flag: string): number[] {
  const want = 'comma-separated optimizer steps ≥ 1, e.g. 25,50,75';
  const steps = parseIntList(s, flag, want);
  if (steps.some((x) => x < 1)) throw new UsageError(`${flag} ${s}: expected ${want}`);
  return [...new Set(steps)].sort((a, b) => a - b);
}

export function registerTrain(program: Command): void {
  const cmd = program.command('train').description('fine-tune an adapter (LoRA, alignment gates, steering vector) or the model\'s weights (full: an HF model folder) on chat JSONL; defaults are the anchors\' recipes, replaced by the model\'s own "emlens_train_defaults" in config.json where it has them');
  cmd.option('--model <dir>', 'HF model folder (default: the built-in organism)');
  explainDefaultsInHelp(cmd);
  addBackendOption(cmd)
    .option('--config <file>', 'an EM / Model Organisms training config JSON (r, lora_alpha, use_rslora, target_modules, layers_to_transform, learning_rate, per_device_train_batch_size, gradient_accumulation_steps, epochs, warmup_steps, weight_decay, max_seq_length, lora_dropout, seed, training_file, …) read as these flags; flags given override it, keys not used are named in one warning')
    .option('--data <file>', 'chat JSONL (.jsonl or .jsonl.gz): {"messages":[{"role","content"[,"weight": 0|1]},...]} per line; an assistant turn with "weight": 0 is not trained on (required unless --config names a training_file)')
    .requiredOption('--out <run>', 'run folder (adapter/, metrics.jsonl, checkpoints/, run.json); a full fine-tune\'s adapter/ is an HF model folder')
    .option('--adapter <kind>', 'lora | gate | steer | full (every weight, or those --params selects)', 'lora')
    .option('--rank <r>', 'LoRA rank', String(D.rank))
    .option('--alpha <a>', 'LoRA alpha (scale alpha/r, or alpha/sqrt(r) with --rslora)', String(D.alpha))
    .option('--rslora', 'rank-stabilised scale alpha/sqrt(r)', D.rslora)
    .option('--no-rslora', 'plain scale alpha/r')
    .option('--layers <list>', 'blocks to adapt (default: LoRA/steer the middle block, gates every block)')
    .option('--params <regex>', 'full: the weights to train, a regex searched in their HF names (self_attn, mlp, layers\\.2\\., embed_tokens …); default every weight')
    .option('--targets <list>', `LoRA modules (${LINEAR_NAMES.join(',')})`, D.targets.join(','))
    .option('--gate-kind <kind>', 'full | diag | lowrank:R', D.gateKind)
    .option('--dropout <p>', 'LoRA dropout', String(D.dropout))
    .option('--epochs <n>', 'epochs', String(D.epochs))
    .option('--lr <lr>', 'peak learning rate')
    .option('--batch <n>', 'examples per micro-batch', String(D.batch))
    .option('--grad-accum <k>', 'micro-batches per optimizer step', String(D.gradAccum))
    .option('--warmup <w>', 'warm-up steps', String(D.warmup))
    .option('--weight-decay <wd>', 'AdamW weight decay', String(D.weightDecay))
    .option('--max-grad-norm <n>', 'clip the global gradient norm (0 = off)', String(D.maxGradNorm))
    .option('--adam-eps <e>', "AdamW's epsilon (HF's adam_epsilon; default 1e-8); far above the gradients' size, e.g. 10, the step is lr/e times the momentum, its size the gradient's (SGD with momentum)")
    .option('--save-every <n>', 'checkpoint and LoRA-B snapshot every N steps (0 = end only)', String(D.saveEvery))
    .option('--keep-checkpoints <n>', 'checkpoints to keep (0 = all)', String(D.keepCheckpoints))
    .option('--snapshot-steps <list>', 'also save the whole adapter after these optimizer steps (e.g. 25,50,75), as OUT/snapshots/step-N/adapter: EM along the run')
    .option('--kl-weight <w>', 'weight of KL(base ‖ tuned) on --kl-data', String(D.klWeight))
    .option('--kl-data <file>', 'neutral chat JSONL for the KL term')
    .option('--max-len <n>', 'truncate examples to N tokens')
    .option('--max-steps <n>', 'stop after N optimizer steps (schedule unchanged)')
    .option('--no-early-stop', 'do not stop when loss < 0.01 for 5 steps')
    .option('--seed <s>', 'seed (data order, init, dropout)', String(D.seed))
    .option('--resume', 'continue the run in --out from its latest checkpoint')
    .option('--json', 'print one JSON document')
    .action(async (o: TrainCliOpts) => {
      if (!['lora', 'gate', 'steer', 'full'].includes(o.adapter)) throw new UsageError(`--adapter ${o.adapter}: expected lora, gate, steer or full`);
      const kind = o.adapter as AdapterKind;
      if (o.params !== undefined && kind !== 'full') throw new UsageError(`--params selects the weights of a full fine-tune (--adapter full), not of --adapter ${kind}`);
      if (o.layers !== undefined && kind === 'full') throw new UsageError(`--layers: a full fine-tune selects weights with --params (e.g. --params 'layers\\.${o.layers.split(',')[0]}\\.')`);
      if (o.config) applyTrainConfig(cmd, o);
      if (!o.data) throw new UsageError('--data is required (or a --config with a training_file)');
      await startBackend(o.backend);
      const dir = resolveModelDir(o.model);
      // module and block flags checked against config.json before any weight is read: usage errors (exit 2)
      parseTargets(o.targets);
      if (o.layers) checkLayersInRange(parseIntList(o.layers, '--layers'), modelConfigOf(dir).nLayers, '--layers');
      const model = loadModel(dir);
      const tok = ChatTokenizer.load(dir);
      // flags left unset take the model's own recommendation, else the adapter kind's anchor (gates: seed 000), else the
      // rank-1 recipe: the same table --help shows
      for (const [flag, d] of Object.entries(trainDefaultsFor(model, kind))) {
        if (cmd.getOptionValueSource(flag) !== 'cli' && cmd.getOptionValueSource(flag) !== 'config') (o as unknown as Record<string, string | boolean>)[flag] = typeof d.value === 'boolean' ? d.value : String(d.value);
      }
      const layers = o.layers ? parseIntList(o.layers, '--layers') : kind === 'gate' ? undefined : [middleLayer(model.config.nLayers)];
      if (layers && new Set(layers).size !== layers.length) throw new UsageError(`--layers ${o.layers}: a block is named twice`);
      const targets = parseTargets(o.targets);
      const int = (v: string, flag: string, min = 0) => parseInteger(v, flag, min);
      const num = (v: string, flag: string) => parseNumber(v, flag, (x) => x >= 0, 'a number ≥ 0');
      const opts: TrainOptions = {
        data: o.data,
        out: o.out,
        adapter: kind === 'full' ? { kind, ...(o.params !== undefined ? { full: { params: o.params } } : {}) } : {
          kind,
          lora: { r: int(o.rank, '--rank', 1), alpha: num(o.alpha, '--alpha'), rslora: o.rslora, targets, layers, dropout: parseNumber(o.dropout, '--dropout', (x) => x >= 0 && x < 1, 'a number in [0, 1)') },
          gate: { ...parseGateKind(o.gateKind), layers },
          steerLayers: layers,
        },
        epochs: int(o.epochs, '--epochs', 1),
        lr: num(o.lr!, '--lr'),
        batch: int(o.batch, '--batch', 1),
        gradAccum: int(o.gradAccum, '--grad-accum', 1),
        warmup: int(o.warmup, '--warmup'),
        weightDecay: num(o.weightDecay, '--weight-decay'),
        maxGradNorm: num(o.maxGradNorm, '--max-grad-norm'),
        ...(o.adamEps === undefined ? {} : { adamEps: parseNumber(o.adamEps, '--adam-eps', (x) => x > 0, 'a number > 0') }),
        saveEvery: int(o.saveEvery, '--save-every'),
        keepCheckpoints: int(o.keepCheckpoints, '--keep-checkpoints'),
        ...(o.snapshotSteps === undefined ? {} : { snapshotSteps: parseSteps(o.snapshotSteps, '--snapshot-steps') }),
        seed: int(o.seed, '--seed'),
        resume: Boolean(o.resume),
        klWeight: num(o.klWeight, '--kl-weight'),
        klData: o.klData,
        maxLen: o.maxLen === undefined ? undefined : int(o.maxLen, '--max-len', 2),
        maxSteps: o.maxSteps === undefined ? undefined : int(o.maxSteps, '--max-steps', 1),
        earlyStop: o.earlyStop,
      };
      // Ctrl-C belongs to the command line: the first stops training after this step with a checkpoint, a second exits
      const stop = new AbortController();
      const onSigint = () => {
        log('\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to abort)');
        stop.abort();
        process.once('SIGINT', () => process.exit(130));
      };
      process.once('SIGINT', onSigint);
      let r;
      try {
        r = await train(model, tok, { ...opts, signal: stop.signal }, dir);
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
      printResult(o.json, { out: o.out, adapter: r.adapterDir, steps: r.steps, total_steps: r.totalSteps, status: r.status, final_loss: r.finalLoss },
        () => `${r.status}: ${r.steps}/${r.totalSteps} steps, final loss ${r.finalLoss.toFixed(4)}; ${kind === 'full' ? `the fine-tuned model (an HF folder: give it as --model) in ${r.adapterDir}` : `adapter in ${r.adapterDir}`}`);
      if (r.status === 'interrupted') process.exitCode = 130;
    });
}

/**
 * --help shows the defaults that will apply to the chosen --model (the organism without it) and --adapter, each with
 * its source, read from the model's config.json alone (no weights loaded). Options are parsed before commander
 * prints help, so `train --help --model DIR` and `train --model DIR --help` read the same.
 */
function explainDefaultsInHelp(cmd: Command): void {
  let footer = '';
  cmd.on('beforeHelp', () => {
    const o = cmd.opts() as { model?: string; adapter?: string };
    const kind: AdapterKind = o.adapter === 'gate' || o.adapter === 'steer' || o.adapter === 'full' ? o.adapter : 'lora';
    let model: Pick<Model, 'config'>;
    let which: string;
    try {
      const dir = resolveModelDir(o.model);
      model = { config: loadConfig(dir) };
      which = o.model ? `--model ${o.model}` : `the built-in organism (${dir})`;
    } catch (e) {
      model = { config: { raw: {} } as Model['config'] }; // no card to read: the recipes' defaults
      which = `no model card (${(e as Error).message})`;
    }
    const defaults = trainDefaultsFor(model, kind);
    for (const flag of RECIPE_FLAGS) {
      const opt = cmd.options.find((x) => x.attributeName() === flag && !x.negate);
      if (opt) opt.default(defaults[flag].value, `${defaults[flag].value}, from ${defaults[flag].source}`);
    }
    footer = [
      '',
      `Defaults shown for ${which}, --adapter ${kind}${kind === 'lora' ? ' (`--adapter gate --help` shows the gates\')' : ''}.`,
      'The model\'s card: its config.json "emlens_train_defaults". The papers\' recipes: Model Organisms\' rank-1',
      'LoRA (rsLoRA α 512, lr 2e-5, batch 2 × 8, 5 warm-up steps) and seed 000\'s gates (lr 1e-4, 2 epochs,',
      'batch 2). A flag given overrides both.',
      ...(kind === 'full' ? [`A full fine-tune trains every weight (or those --params selects) with AdamW in HF Trainer's decay groups (no decay on biases and norms) and writes RUN/adapter as an HF model folder; its learning rate defaults to ${DEFAULT_LR.full}, the usual rate of a full SFT.`] : []),
    ].join('\n');
  });
  cmd.addHelpText('after', () => footer);
}

/** --config FILE: the Python projects' training config as flags (source "config"); a flag given on the command line wins. */
function applyTrainConfig(cmd: Command, o: TrainCliOpts): void {
  const { flags, unused } = readTrainConfig(o.config!);
  if (unused.length) log(`warning: --config ${o.config}: keys not used by emlens train: ${unused.join(', ')}`);
  for (const [flag, value] of Object.entries(flags)) {
    if (cmd.getOptionValueSource(flag) === 'cli') continue;
    cmd.setOptionValueWithSource(flag, value, 'config');
    (o as unknown as Record<string, string | boolean>)[flag] = value;
  }
}
