// `emlens generate`: sample continuations of a prompt or chat, with adapters and steering applied to every token.
// No tensor axes at this level (ids in, text out).
import type { Command } from 'commander';
import { addModelOptions, loadFromOptions, type ModelOpts } from '../model-options.ts';
import { generate } from '../../model/generate.ts';
import { readChatFile } from './tokenize.ts';
import { UsageError, UserError } from '../../util/log.ts';
import { Progress } from '../../util/progress.ts';
import { printResult } from '../output.ts';
import { parseInteger, parseNumber as num } from '../parse.ts';

interface GenerateOpts extends ModelOpts {
  prompt?: string;
  chat?: string;
  maxNewTokens: string;
  temperature: string;
  topP: string;
  seed: string;
  samples: string;
  json?: boolean;
}

export function registerGenerate(program: Command): void {
  const cmd = program.command('generate').description('generate text (KV-cached; steering applies to generated tokens too)');
  addModelOptions(cmd)
    .option('--prompt <str>', 'raw prompt text (no chat template)')
    .option('--chat <file>', 'JSON array of {"role","content"}; rendered with the generation prompt')
    .option('--max-new-tokens <n>', 'tokens to generate', '64')
    .option('--temperature <t>', '0 = greedy', '1')
    .option('--top-p <p>', 'nucleus sampling mass', '1')
    .option('--seed <s>', 'sampling seed', '0')
    .option('--samples <k>', 'samples per prompt', '1')
    .option('--json', 'print one JSON document')
    .action(async (o: GenerateOpts) => {
      if ((o.prompt === undefined) === (o.chat === undefined)) throw new UsageError('generate: give exactly one of --prompt or --chat');
      const maxNewTokens = parseInteger(o.maxNewTokens, '--max-new-tokens', 1);
      const temperature = num(o.temperature, '--temperature', (x) => x >= 0, 'a number ≥ 0');
      const topP = num(o.topP, '--top-p', (x) => x > 0 && x <= 1, 'a number in (0, 1]');
      const seed = parseInteger(o.seed, '--seed');
      const samples = parseInteger(o.samples, '--samples', 1);
      const { model, hooks, tokenizer } = await loadFromOptions(o, { tokenizer: true });
      const tok = tokenizer!;
      const prompt = o.chat !== undefined ? tok.renderChat(readChatFile(o.chat), true) : o.prompt!;
      const ids = tok.encode(prompt, o.chat === undefined); // a raw prompt gets BOS as HF tokenizer(prompt) does
      if (!ids.length) throw new UserError('generate: the prompt encodes to no tokens');
      const progress = new Progress('generate', maxNewTokens, 'tok');
      const g = generate(model, Array(samples).fill(ids), {
        maxNewTokens, temperature, topP, seed, hooks,
        eosIds: tok.eosIds(model.config.eosTokenIds),
        padId: model.config.padTokenId ?? 0,
        onStep: () => progress.tick(),
      });
      progress.finish();
      const eos = new Set(tok.eosIds(model.config.eosTokenIds));
      const outputs = g.tokens.map((t) => ({ ids: t, text: tok.decode(t.filter((x) => !eos.has(x)), true), finished: eos.has(t[t.length - 1]) }));
      printResult(o.json, { prompt, prompt_ids: ids, seed, samples: outputs }, () => outputs.map((s, i) => (samples > 1 ? `--- sample ${i + 1}\n` : '') + s.text).join('\n'));
    });
}
