// `emlens tokenize`: ids of a text or of a rendered chat template, as HF's tokenizer gives them.
// No tensor axes.
import { existsSync } from 'node:fs';
import { readTextFile } from '../../util/fs.ts';
import type { Command } from 'commander';
import { resolveModelDir } from '../model-options.ts';
import { ChatTokenizer, type ChatMessage } from '../../model/tokenizer.ts';
import { UsageError, UserError } from '../../util/log.ts';
import { printResult } from '../output.ts';

interface TokenizeOpts {
  model?: string;
  text?: string;
  chat?: string;
  generationPrompt?: boolean;
  special?: boolean;
  json?: boolean;
}

export function readChatFile(path: string): ChatMessage[] {
  if (!existsSync(path)) throw new UserError(`--chat ${path}: file not found`);
  let msgs: unknown;
  const text = readTextFile(path, `--chat ${path}`); // a folder or an unreadable file named; a BOM dropped
  try {
    msgs = JSON.parse(text);
  } catch (e) {
    throw new UserError(`--chat ${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(msgs) || !msgs.every((m) => m && typeof m.role === 'string' && typeof m.content === 'string')) {
    throw new UserError(`--chat ${path}: expected a JSON array of {"role", "content"} objects`);
  }
  return msgs as ChatMessage[];
}

export function registerTokenize(program: Command): void {
  program
    .command('tokenize')
    .description('token ids of a text, or of a chat rendered with the chat template')
    .option('--model <dir>', 'HF model folder (default: the built-in organism)')
    .option('--text <str>', 'text to encode')
    .option('--chat <file>', 'JSON array of {"role","content"} messages')
    .option('--generation-prompt', 'append the assistant turn opener (add_generation_prompt)')
    .option('--special', 'add BOS/EOS to --text as the tokenizer does (add_special_tokens=True)')
    .option('--json', 'print one JSON document')
    .action((o: TokenizeOpts) => {
      if ((o.text === undefined) === (o.chat === undefined)) throw new UsageError('tokenize: give exactly one of --text or --chat');
      const tok = ChatTokenizer.load(resolveModelDir(o.model));
      let text: string, ids: number[];
      if (o.chat !== undefined) {
        text = tok.renderChat(readChatFile(o.chat), Boolean(o.generationPrompt));
        ids = tok.encode(text, false);
      } else {
        text = o.text!;
        ids = tok.encode(text, Boolean(o.special));
      }
      printResult(o.json, { ids, text }, () => `${ids.join(',')}\n(${ids.length} tokens)`);
    });
}
