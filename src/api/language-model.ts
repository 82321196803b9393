// The scripting entry: openModel(dirOrHubId) → a LanguageModel holding the model, its tokenizer and chat helpers, and
// generate(messages | text, { hooks, maxNewTokens, temperature, seed }) → text. Axes: ids [batch][seq] (plain arrays).
import { existsSync } from 'node:fs';
import { initBackend, type BackendChoice } from '../backend/select.ts';
import { loadModel } from '../model/load.ts';
import { disposeModel, type Model } from '../model/modules.ts';
import { ChatTokenizer, type ChatMessage } from '../model/tokenizer.ts';
import { generate as generateIds } from '../model/generate.ts';
import type { Hook } from '../model/hooks.ts';
import { ORGANISM_DIR } from '../util/package-root.ts';
import { resolveLocalOrHub } from '../model/hub-cache.ts';
import { EmlensError } from '../util/errors.ts';

export interface OpenOptions {
  /** tfjs backend (default 'auto': the first that starts of tensorflow, webgpu, wasm, cpu). */
  backend?: BackendChoice;
  /** No backend line on stderr. */
  quiet?: boolean;
}

export interface GenerateTextOptions {
  hooks?: Hook[];
  /** Default 64. */
  maxNewTokens?: number;
  /** 0 = greedy (default 1). */
  temperature?: number;
  topP?: number;
  /** Sampling seed (default 0): the same seed gives the same text. */
  seed?: number;
}

/** A model with its tokenizer; `model` is the plain Model every library function takes. */
export class LanguageModel {
  constructor(readonly dir: string, readonly model: Model, readonly tokenizer: ChatTokenizer) {}

  get nLayers(): number {
    return this.model.config.nLayers;
  }

  get dModel(): number {
    return this.model.config.dModel;
  }

  /** Ids of a chat rendered with the model's chat template (and the assistant's turn opened, by default). */
  chatIds(messages: ChatMessage[], addGenerationPrompt = true): number[] {
    return this.tokenizer.encodeChat(messages, addGenerationPrompt);
  }

  /** A user message (or a whole chat) as the chat template renders it. */
  renderChat(messages: ChatMessage[] | string, addGenerationPrompt = true): string {
    return this.tokenizer.renderChat(typeof messages === 'string' ? [{ role: 'user', content: messages }] : messages, addGenerationPrompt);
  }

  encode(text: string): number[] {
    return this.tokenizer.encode(text, false);
  }

  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, true);
  }

  /**
   * The assistant's answer to `messages` (a chat, or a text sent as one user message through the chat template),
   * with `hooks` on every forward pass (prompt and generated tokens).
   */
  generate(messages: ChatMessage[] | string, o: GenerateTextOptions = {}): string {
    const ids = this.chatIds(typeof messages === 'string' ? [{ role: 'user', content: messages }] : messages);
    const maxNewTokens = o.maxNewTokens ?? 64;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new EmlensError('options.maxNewTokens', `${maxNewTokens}: expected an integer ≥ 1`);
    const temperature = o.temperature ?? 1;
    if (!(temperature >= 0)) throw new EmlensError('options.temperature', `${temperature}: expected a number ≥ 0`);
    const eos = this.tokenizer.eosIds(this.model.config.eosTokenIds);
    const g = generateIds(this.model, [ids], { maxNewTokens, temperature, topP: o.topP, seed: o.seed ?? 0, hooks: o.hooks, eosIds: eos, padId: this.model.config.padTokenId ?? 0 });
    const stop = new Set(eos);
    return this.decode(g.tokens[0].filter((t) => !stop.has(t)));
  }

  /** Frees the model's weights. */
  dispose(): void {
    disposeModel(this.model);
  }
}

/**
 * Starts a backend (once) and loads a Hugging Face model folder, a hub id from the local Hugging Face cache (never
 * downloaded), or, by default, the built-in organism.
 */
export async function openModel(dirOrHubId: string = ORGANISM_DIR, o: OpenOptions = {}): Promise<LanguageModel> {
  await initBackend(o.backend ?? 'auto', { quiet: o.quiet });
  const dir = resolveLocalOrHub(dirOrHubId, 'dirOrHubId');
  if (!dir || !existsSync(dir)) throw new EmlensError('dirOrHubId', `${dirOrHubId}: no such folder, nor a hub id in the local Hugging Face cache`);
  return new LanguageModel(dir, loadModel(dir), ChatTokenizer.load(dir));
}
