// Loads an HF tokenizer (tokenizer.json + tokenizer_config.json) and its chat template, and renders chats.
// No tensor axes: ids are plain number arrays.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { UserError } from '../util/log.ts';
import { readTextFile } from '../util/fs.ts';

export interface ChatMessage {
  role: string;
  content: string;
}

const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'] as const;

export class ChatTokenizer {
  private readonly template?: Template;
  /** bos_token, eos_token … as strings, passed to the chat template as HF does. */
  readonly specialTokens: Record<string, string> = {};

  private constructor(private readonly tok: Tokenizer, readonly config: Record<string, unknown>, templateSource: string | undefined, readonly dir: string) {
    for (const k of SPECIAL_KEYS) {
      const v = config[k];
      const s = typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String((v as { content: string }).content) : undefined;
      if (s !== undefined) this.specialTokens[k] = s;
    }
    this.templateSource = templateSource;
    if (templateSource !== undefined) {
      try {
        this.template = new Template(templateSource);
      } catch (e) {
        throw new UserError(`${dir}: chat template does not parse: ${(e as Error).message}`);
      }
    }
  }

  readonly templateSource: string | undefined;

  static load(dir: string): ChatTokenizer {
    const tjPath = join(dir, 'tokenizer.json');
    if (!existsSync(tjPath)) throw new UserError(`${dir}: no tokenizer.json`);
    const json = readJson(tjPath);
    const cfgPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(cfgPath) ? readJson(cfgPath) : {};
    return new ChatTokenizer(buildTokenizer(tjPath, json, config), config, findTemplate(dir, config), dir);
  }

  get vocabSize(): number {
    return this.tok.get_vocab(true).size;
  }

  private longest?: number;

  /** Characters of the longest vocabulary entry: text of C characters is at least C / this many tokens. */
  get maxTokenChars(): number {
    if (this.longest === undefined) {
      let n = 1;
      for (const t of this.tok.get_vocab(true).keys()) if (t.length > n) n = t.length;
      this.longest = n;
    }
    return this.longest;
  }

  /** Token ids of `text`; `special` adds BOS/EOS as the tokenizer's post-processor says (HF add_special_tokens). */
  encode(text: string, special = false): number[] {
    return this.tok.encode(text, { add_special_tokens: special }).ids;
  }

  decode(ids: number[], skipSpecial = false): string {
    if (!ids.length) return '';
    return this.tok.decode(ids, { skip_special_tokens: skipSpecial });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The rendered chat template (HF apply_chat_template(tokenize=False)). */
  renderChat(messages: ChatMessage[], addGenerationPrompt = false, extra: Record<string, unknown> = {}): string {
    if (!this.template) throw new UserError(`${this.dir}: the tokenizer has no chat template (tokenizer_config.json or chat_template.jinja)`);
    return this.template.render({ messages, add_generation_prompt: addGenerationPrompt, ...this.specialTokens, ...extra });
  }

  /** Ids of the rendered chat; the template already holds BOS, so no special tokens are added (as HF does). */
  encodeChat(messages: ChatMessage[], addGenerationPrompt = false): number[] {
    return this.encode(this.renderChat(messages, addGenerationPrompt), false);
  }

  /** Ids that end a generation: eos_token and any ids given by the model's config. */
  eosIds(extra: number[] = []): number[] {
    const ids = new Set(extra);
    const eos = this.specialTokens.eos_token;
    const id = eos === undefined ? undefined : this.tokenToId(eos);
    if (id !== undefined) ids.add(id);
    return [...ids];
  }
}

function readJson(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readTextFile(path));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** The tokenizer models the library implements; another "type" would be guessed from the keys present, silently. */
const TOKENIZER_MODELS = ['BPE', 'WordPiece', 'Unigram', 'WordLevel'];

function buildTokenizer(path: string, json: Record<string, unknown>, config: Record<string, unknown>): Tokenizer {
  const model = json.model as { type?: unknown } | undefined;
  if (typeof model !== 'object' || model === null) throw new UserError(`${path}: no "model" object (not a Hugging Face tokenizer.json)`);
  if (model.type !== undefined && !TOKENIZER_MODELS.includes(model.type as string)) throw new UserError(`${path}: unknown tokenizer model type ${JSON.stringify(model.type)} (supported: ${TOKENIZER_MODELS.join(', ')})`);
  try {
    return new Tokenizer(json, config);
  } catch (e) {
    throw new UserError(`${path}: cannot build the tokenizer (${(e as Error).message})`);
  }
}

/** chat_template.jinja beside the tokenizer wins (transformers ≥ 4.43 saves it there), else tokenizer_config's string or named list. */
function findTemplate(dir: string, config: Record<string, unknown>): string | undefined {
  const file = join(dir, 'chat_template.jinja');
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as { name: string; template: string }[];
    return (named.find((x) => x.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}
