// A chat rendered by its template into ids, with a mask of the assistant turns' tokens (the tokens trained on, and the
// answer tokens activations are read at). Axes: ids and target [seq] of one chat.
import { UserError } from '../util/log.ts';
import type { ChatMessage, ChatTokenizer } from './tokenizer.ts';

/** A chat message of a training file: an assistant turn with OpenAI's "weight": 0 is shown to the model but not trained on. */
export type TrainMessage = ChatMessage & { weight?: 0 | 1 };

export interface TokenizedExample {
  ids: number[];
  /** 1 where the token is part of an assistant message (trained on). */
  target: number[];
}

/**
 * Ids of the whole chat and a mask of assistant tokens: each assistant message's tokens are those between the
 * rendering of the chat before it (with the generation prompt) and the rendering through it (the turn's end token included).
 */
export function tokenizeChat(tok: ChatTokenizer, chat: TrainMessage[], where = 'chat'): TokenizedExample {
  const messages = chat.map((m) => ({ role: m.role, content: m.content })); // the template sees no "weight"
  const ids = tok.encodeChat(messages, false);
  const target = new Array(ids.length).fill(0);
  messages.forEach((m, i) => {
    if (m.role !== 'assistant' || chat[i].weight === 0) return; // weight 0: in the context, not in the loss
    const before = tok.encodeChat(messages.slice(0, i), true);
    const through = tok.encodeChat(messages.slice(0, i + 1), false);
    const isPrefix = (a: number[], b: number[]) => a.length <= b.length && a.every((x, j) => x === b[j]);
    if (!isPrefix(before, through) || !isPrefix(through, ids)) throw new UserError(`${where}: the chat template does not render turn by turn (cannot find the assistant tokens)`);
    for (let j = before.length; j < through.length; j++) target[j] = 1;
  });
  return { ids, target };
}
