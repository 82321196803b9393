// `emlens extract` (EM, refusal, persona, contrast, model-diff, LoRA-B or random directions → a direction file) and `emlens compare`
// (per-layer cosine table between direction files). No tensor axes at this level.
import type { Command } from 'commander';
import { addModelOptions, findAdapter, loadFromOptions, resolveModelDir, startBackend, type ModelOpts } from '../model-options.ts';
import { readChatJsonl, readPromptSet } from '../../train/data.ts';
import { readJudgedAnswers } from '../../eval/judged-answers.ts';
import { readTraitFile, traitContrast } from '../../formats/trait-file.ts';
import { innerExtension } from '../../formats/text.ts';
import { extractContrast } from '../../directions/extract.ts';
import { extractEmDirection, extractModelDiffDirection, extractPersonaDirection, extractRefusalDirection, type PersonaPositions } from '../../recipes/directions.ts';
import { loadModel } from '../../model/load.ts';
import { loadConfig } from '../../model/config.ts';
import { LAYOUT_HELP, UndecidedLayoutError, parseVectorLayout, type VectorLayout } from '../../directions/imported.ts';
import type { ChatMessage } from '../../model/tokenizer.ts';
import { Direction, type PositionRule } from '../../directions/direction.ts';
import { cosineTable } from '../../directions/compare.ts';
import { AGGREGATOR_NAMES, randomDirectionLike } from '../../directions/aggregators.ts';
import { disposeLora, loadLora } from '../../adapters/lora.ts';
import { disposeGates, loadGates } from '../../adapters/gates.ts';
import { gateDirection, loraWriteDirection } from '../../directions/adapter-directions.ts';
import { HOOK_SITES, type HookSite } from '../../model/hooks.ts';
import type { JudgedAnswer } from '../../eval/em-eval.ts';
import { EVIL, type Trait } from '../../eval/judge.ts';
import { addJudgeOptions, judgeFromOptions, type JudgeOpts } from '../judge-options.ts';
import { UsageError, UserError, log } from '../../util/log.ts';
import { printResult } from '../output.ts';
import { parseInteger } from '../parse.ts';
import { guardOutput } from '../../util/fs.ts';

interface ExtractCliOpts extends ModelOpts, JudgeOpts {
  kind: string;
  pos?: string;
  neg?: string;
  data?: string;
  site?: string;
  positions?: string;
  method: string;
  trait: string;
  traitDescription?: string;
  traitFile?: string;
  samplesPerPrompt: string;
  maxNewTokens?: string;
  nTrain?: string;
  valPos?: string;
  valNeg?: string;
  seed: string;
  like?: string;
  reference?: string;
  out: string;
  json?: boolean;
}

const EXTRACT_KINDS = ['em', 'refusal', 'persona', 'contrast', 'model-diff', 'lora-b', 'gate', 'random'];
const POSITION_RULES = ['answer-mean', 'last-prompt', 'post-instruction', 'prompt-mean', 'prompt-last'];
/** Persona vectors' names for the position rules: prompt_last is emlens's last-prompt. */
const PERSONA_POSITIONS: Record<string, PersonaPositions> = { 'answer-mean': 'answer-mean', 'prompt-mean': 'prompt-mean', 'prompt-last': 'last-prompt', 'last-prompt': 'last-prompt' };

function saved(o: ExtractCliOpts, d: Direction): void {
  const file = d.save(o.out);
  printResult(o.json, { out: file, kind: d.provenance.kind, best_layer: d.provenance.best_layer, norms: d.norms(), provenance: d.provenance },
    () => `${d.provenance.kind} direction → ${file} (best layer ${d.provenance.best_layer}, site ${d.provenance.site}, ${d.provenance.method})`);
}

/** The judged answers of an `emlens eval --out` file (JSON) or of a judged-answer CSV of the Python evals. */
const evalAnswers = (path: string): JudgedAnswer[] => readJudgedAnswers(path, 'data');

const answerChat = (a: JudgedAnswer): ChatMessage[] => [...(a.messages ?? [{ role: 'user', content: a.question }]), { role: 'assistant', content: a.text }];

/** A prompt set: chat JSONL, or a JSON array of {"instruction"} objects or strings (refusal_direction's splits). */
const chats = (path: string, flag = '--pos') => readPromptSet(path, flag);

export function registerDirections(program: Command): void {
  const ex = program.command('extract').description('extract an EM, refusal, persona or contrast direction (one vector per layer), read the one a LoRA writes (lora-b), or draw a random baseline');
  addModelOptions(ex)
    .requiredOption('--kind <kind>', 'em | refusal | persona | contrast | model-diff (--adapter\'s shift of activations on --data) | lora-b (what --adapter writes into the residual stream) | gate (the inputs --adapter\'s gates read most) | random (--like FILE)')
    .option('--pos <file>', 'positive set (JSONL chats, or a JSON array of {"instruction"} objects or strings as refusal_direction\'s splits): harmful prompts, persona+ prompts, or contrast examples')
    .option('--neg <file>', 'negative set (same forms as --pos)')
    .option('--n-train <n>', 'for --kind refusal: a random subsample (--seed) of n prompts of each training set (Arditi et al.: 128)')
    .option('--val-pos <file>', 'for --kind refusal: harmful prompts for the candidate selection (default: the last ≤ 32 of --pos held out)')
    .option('--val-neg <file>', 'for --kind refusal: harmless prompts for the candidate selection (with --val-pos)')
    .option('--data <file>', 'for --kind em / model-diff: the answers saved by `emlens eval --out`, or a judged-answer CSV (question, answer, question_id, aligned, coherent) of the Python evals (model-diff: or a chat JSONL)')
    .option('--reference <dir>', 'for --kind model-diff: the model the fine-tune is diffed against (default: --model without adapters)')
    .option('--site <site>', `hook site (${HOOK_SITES.join(', ')}); default as the kind's paper`)
    .option('--positions <rule>', 'contrast: answer-mean | last-prompt | prompt-mean | post-instruction; persona: answer-mean (default) | prompt-mean | prompt-last, persona vectors\' response_avg, prompt_avg, prompt_last')
    .option('--method <m>', AGGREGATOR_NAMES.join(' | '), 'mean-diff');
  addJudgeOptions(ex) // --kind persona judges its answers
    .option('--trait <name>', 'for --kind persona: the trait the judge scores (evil, or any with --trait-description)', 'evil')
    .option('--trait-description <text>', 'for --kind persona: what expressing --trait means (e.g. "agreeing with the user whatever they say")')
    .option('--trait-file <file>', "for --kind persona: a persona_vectors trait file ({instruction: [{pos, neg}], questions, eval_prompt}): each pos / neg instruction as the system prompt × each question, judged with its eval_prompt; the trait is named after the file")
    .option('--samples-per-prompt <k>', 'for --kind persona: answers generated per prompt', '1')
    .option('--max-new-tokens <n>', 'for --kind persona: tokens per generated answer (default 80)')
    .option('--seed <s>', 'seed (class subsampling, persona sampling, PCA, random)', '0')
    .option('--like <file>', 'for --kind random: a direction file whose per-layer norms the random one takes')
    .requiredOption('--out <file>', 'direction file to write (.safetensors, with a .json beside it)')
    .option('--json', 'print one JSON document')
    .action(async (o: ExtractCliOpts) => {
      const seed = parseInteger(o.seed, '--seed');
      // the direction file and its .json: never a model's file (extract --out MODEL/model would replace its weights)
      const outFile = o.out.endsWith('.safetensors') ? o.out : `${o.out}.safetensors`;
      guardOutput(outFile, { flag: '--out', kind: 'file', siblings: [outFile.replace(/\.safetensors$/, '.json')] });
      if (!EXTRACT_KINDS.includes(o.kind)) throw new UsageError(`--kind ${o.kind}: expected ${EXTRACT_KINDS.join(', ')}`);
      if (o.positions && !POSITION_RULES.includes(o.positions)) throw new UsageError(`--positions ${o.positions}: expected ${POSITION_RULES.join(', ')}`);
      if (!AGGREGATOR_NAMES.includes(o.method)) throw new UsageError(`--method ${o.method}: expected one of ${AGGREGATOR_NAMES.join(', ')}`);
      if (o.site && !HOOK_SITES.includes(o.site as HookSite)) throw new UsageError(`--site ${o.site}: expected one of ${HOOK_SITES.join(', ')}`);
      const need = (flag: 'pos' | 'neg' | 'data' | 'like') => {
        const v = o[flag];
        if (!v) throw new UsageError(`--kind ${o.kind} needs --${flag}`);
        return v;
      };
      rejectIgnoredFlags(o);
      const nTrain = o.nTrain === undefined ? undefined : parseInteger(o.nTrain, '--n-train', 1);
      if (Boolean(o.valPos) !== Boolean(o.valNeg)) throw new UsageError('give --val-pos and --val-neg together');
      const samplesPerPrompt = parseInteger(o.samplesPerPrompt, '--samples-per-prompt', 1);
      const maxNewTokens = o.maxNewTokens === undefined ? undefined : parseInteger(o.maxNewTokens, '--max-new-tokens', 1);
      const traitFile = o.traitFile ? readTraitFile(o.traitFile) : undefined;
      const trait = o.kind === 'persona' ? traitFromOptions(o, traitFile) : undefined; // checked before the model is loaded
      if (o.kind === 'random') {
        const like = Direction.load(need('like'), { layout: parseVectorLayout(o.vectorLayout, 'vectorLayout'), nLayers: modelLayers(o.model) });
        return saved(o, randomDirectionLike(like, seed, { notes: `equal norm to ${o.like}, layer by layer`, derived_from: like.provenance }));
      }
      if (o.kind === 'lora-b' || o.kind === 'gate') return saved(o, await adapterDirection(o, o.kind === 'gate' ? 'gate' : 'lora'));
      const { dir, model, base, hooks, tokenizer } = await loadFromOptions(o, { tokenizer: true });
      const ctx = { model, tok: tokenizer!, hooks, method: o.method, site: o.site as 'resid_pre' | 'resid_post' | undefined, seed, modelName: dir, adapterName: o.adapter };
      let d: Direction;
      switch (o.kind) {
        case 'em':
          d = extractEmDirection(ctx, evalAnswers(need('data')), o.data!);
          break;
        case 'model-diff': {
          const path = need('data');
          const chats = innerExtension(path) === '.jsonl' ? readChatJsonl(path).map((e) => e.messages) : evalAnswers(path).map(answerChat);
          const reference = o.reference ? { model: loadModel(o.reference, 'reference'), name: o.reference } : { model: base, name: `${dir} without adapters` };
          d = extractModelDiffDirection(ctx, reference, chats, path);
          break;
        }
        case 'refusal': {
          const val = o.valPos ? { harmful: chats(o.valPos, '--val-pos'), harmless: chats(o.valNeg!, '--val-neg') } : undefined;
          d = extractRefusalDirection(ctx, chats(need('pos')), chats(need('neg'), '--neg'), [need('pos'), need('neg'), ...(val ? [o.valPos!, o.valNeg!] : [])], { nTrain, val });
          break;
        }
        case 'persona': {
          const judge = judgeFromOptions(o);
          if (traitFile && !judge.readsPrompts) log(`warning: the ${judge.name} judge scores its own "${trait!.name}" trait by its rules, not the trait file's eval_prompt (give --judge URL to use it)`);
          const set = traitFile ? traitContrast(traitFile) : { pos: chats(need('pos')), neg: chats(need('neg'), '--neg') };
          const positions = PERSONA_POSITIONS[o.positions ?? 'answer-mean'];
          d = await extractPersonaDirection(ctx, set.pos, set.neg, judge, traitFile ? [traitFile.path] : [need('pos'), need('neg')], { trait, samples: samplesPerPrompt, maxNewTokens, positions });
          break;
        }
        case 'contrast': {
          const pos = chats(need('pos')), neg = chats(need('neg'), '--neg');
          const hasAnswers = pos.every((m) => m.some((x) => x.role === 'assistant'));
          const positions = (o.positions === 'prompt-last' ? 'last-prompt' : o.positions ?? (hasAnswers ? 'answer-mean' : 'last-prompt')) as PositionRule;
          d = extractContrast(model, tokenizer!, pos, neg, { site: (o.site ?? 'resid_post') as HookSite, positions, method: o.method, hooks, seed }, { kind: 'contrast', model: dir, adapter: o.adapter, datasets: [need('pos'), need('neg')] });
          break;
        }
        default:
          throw new Error(`--kind ${o.kind}: listed in EXTRACT_KINDS but not extracted`);
      }
      saved(o, d);
    });

  program
    .command('compare')
    .description('per-layer cosine table between direction files')
    .argument('<files...>', 'two or more direction files (emlens .safetensors, or .pt/.pth/.npy/.npz another tool saved)')
    .option('--vector-layout <layout>', `${LAYOUT_HELP.replace("the model's layers", "the emlens direction files' layers")}`)
    .option('--json', 'print one JSON document')
    .action((files: string[], o: { json?: boolean; vectorLayout?: string }) => {
      if (files.length < 2) throw new UsageError('compare: give at least two direction files');
      const directions = loadAll(files, parseVectorLayout(o.vectorLayout, 'vectorLayout'));
      const table = cosineTable(directions.map((direction, i) => ({ name: files[i], direction })));
      // a LoRA's B has no sign of its own (B·A is unchanged when both flip): across adapters only |cosine| says anything
      const signFree = files.filter((_, i) => directions[i].provenance.method === 'lora-b');
      if (signFree.length) log(`note: ${signFree.join(', ')}: a LoRA's B direction, whose sign is arbitrary (B·A is the same with both flipped); read its cosines by magnitude`);
      printResult(o.json, signFree.length ? { ...table, sign_free: signFree } : table, () => [
        ['layer', ...table.pairs.map((p) => `${p.a} × ${p.b}`)].join('\t'),
        ...table.layers.map((l) => [l, ...table.pairs.map((p) => (p.cosine[l] === null ? '—' : p.cosine[l]!.toFixed(3)))].join('\t')),
      ].join('\n'));
    });
}

/**
 * Direction files to compare: another tool's [R, d] rows are laid out against the layers of the emlens files given
 * with them (blocks or hidden states), and a one-vector file is repeated at each of those layers.
 */
function loadAll(files: string[], layout: VectorLayout | undefined): Direction[] {
  const first = files.map((f) => {
    try {
      return Direction.load(f, { layout });
    } catch (e) {
      if (e instanceof UndecidedLayoutError) return undefined; // rows to lay out against the others' layers
      throw e;
    }
  });
  const nLayers = first.find((d) => d && d.provenance.kind !== 'imported')?.nLayers ?? first.find((d) => d && !d.provenance.details?.one_vector)?.nLayers;
  return files.map((f, i) => {
    const d = first[i];
    if (d && !(d.provenance.details?.one_vector && nLayers !== undefined && nLayers !== d.nLayers)) return d;
    return Direction.load(f, { layout, nLayers });
  });
}

/** --kind lora-b / gate: a direction read straight from the --adapter's weights (no text, no merged model): what a
 * LoRA writes into the residual stream, or the block inputs a gate adapter reads most. */
async function adapterDirection(o: ExtractCliOpts, kind: 'lora' | 'gate'): Promise<Direction> {
  const [flag, what] = kind === 'lora' ? ['lora-b', 'a LoRA'] : ['gate', 'a gate adapter'];
  if (!o.adapter) throw new UsageError(`--kind ${flag} needs --adapter (${what})`);
  const a = findAdapter(o.adapter);
  if (a.kind !== kind) throw new UserError(`--kind ${flag}: --adapter ${o.adapter} is not ${what}`);
  await startBackend(o.backend);
  const model = loadModel(resolveModelDir(o.model)); // loading checks the adapter's shapes against the model
  if (kind === 'lora') {
    const lora = loadLora(a.dir, model);
    try {
      return loraWriteDirection(lora, model.config.nLayers, o.adapter);
    } finally {
      disposeLora(lora);
    }
  }
  const gates = loadGates(a.dir, model, 'spec.adapter');
  try {
    return gateDirection(gates, model.config.nLayers, o.adapter);
  } finally {
    disposeGates(gates);
  }
}

/** The layers of --model (or the built-in organism) from its config.json, to lay out another tool's vector file; undefined if unreadable. */
function modelLayers(model: string | undefined): number | undefined {
  try {
    return loadConfig(resolveModelDir(model)).nLayers;
  } catch {
    return undefined;
  }
}

/** --trait / --trait-description: evil is built in (the trait EM is about); any other trait needs its description. A
 * trait file names the trait (its file name) and brings the judge's prompt (its eval_prompt). */
function traitFromOptions(o: ExtractCliOpts, file?: { name: string; evalPrompt: string; path: string }): Trait {
  if (file) return { name: file.name, description: o.traitDescription ?? `as the eval_prompt of ${file.path} says`, prompt: file.evalPrompt };
  if (o.traitDescription) return { name: o.trait, description: o.traitDescription };
  if (o.trait === EVIL.name) return EVIL;
  throw new UsageError(`--trait ${o.trait}: give --trait-description (what expressing it means); only "${EVIL.name}" is built in`);
}

/** Flags a kind does not read are an error, not silently dropped: only contrast takes any site and position rule. */
function rejectIgnoredFlags(o: ExtractCliOpts): void {
  const residual = ['em', 'model-diff', 'persona', 'refusal'];
  if (o.site && o.kind !== 'contrast' && !(residual.includes(o.kind) && (o.site === 'resid_pre' || o.site === 'resid_post'))) {
    throw new UsageError(`--site ${o.site}: --kind ${o.kind} ${residual.includes(o.kind) ? 'reads resid_pre or resid_post' : 'reads no activations'} (any site: --kind contrast)`);
  }
  if ((o.traitDescription || o.trait !== EVIL.name || o.traitFile) && o.kind !== 'persona') throw new UsageError(`${o.traitFile ? '--trait-file' : o.trait !== EVIL.name ? '--trait' : '--trait-description'} applies to --kind persona only`);
  if (o.traitFile && (o.pos || o.neg)) throw new UsageError('--trait-file builds the persona contrast set itself; give it or --pos/--neg, not both');
  if (o.traitFile && o.trait !== EVIL.name) throw new UsageError('--trait-file names the trait (after its file); leave out --trait');
  if ((o.nTrain || o.valPos || o.valNeg) && o.kind !== 'refusal') throw new UsageError('--n-train, --val-pos and --val-neg apply to --kind refusal only');
  if ((o.maxNewTokens !== undefined || o.samplesPerPrompt !== '1') && o.kind !== 'persona') throw new UsageError('--samples-per-prompt and --max-new-tokens apply to --kind persona only (it generates answers)');
  if (o.positions && o.kind === 'persona' && !(o.positions in PERSONA_POSITIONS)) throw new UsageError(`--positions ${o.positions}: --kind persona reads answer-mean, prompt-mean or prompt-last`);
  if (o.positions && o.kind !== 'contrast' && o.kind !== 'persona') throw new UsageError(`--positions applies to --kind contrast and persona only; --kind ${o.kind} uses its paper's`);
  const aggregates = ['em', 'persona', 'contrast'];
  if (o.method !== 'mean-diff' && !aggregates.includes(o.kind)) {
    throw new UsageError(`--method ${o.method} applies to --kind ${aggregates.join(', ')}; --kind ${o.kind} is ${o.kind === 'refusal' ? "Arditi et al.'s mean difference, selected by ablation" : 'not an aggregate of two groups'}`);
  }
}
