// Which token positions an activation is read at: the answer-token mean, the last prompt token, the mean over the
// prompt's tokens (persona vectors' prompt_avg), or each post-instruction template token (the tokens after the user's message). Axes: positions index one example's ids.
import type { ChatMessage, ChatTokenizer } from '../model/tokenizer.ts';
import { tokenizeChat } from '../model/chat-tokens.ts';
import { UserError } from '../util/log.ts';
import type { PositionRule } from './direction.ts';

/** One example to read: its ids and the groups of positions ("slots") averaged together. */
export interface Sample {
  ids: number[];
  slots: number[][];
}

/** A chat with an assistant answer → its answer tokens (the assistant turn's tokens, end marker included). */
export function answerSample(tok: ChatTokenizer, messages: ChatMessage[], where = 'chat'): Sample {
  const { ids, target } = tokenizeChat(tok, messages, where);
  const answer = target.flatMap((t, i) => (t ? [i] : []));
  if (!answer.length) throw new UserError(`${where}: no assistant tokens to read`);
  return { ids, slots: [answer] };
}

/** A prompt (messages ending with the user's turn) rendered with the generation prompt. */
export function promptIds(tok: ChatTokenizer, messages: ChatMessage[]): number[] {
  return tok.encodeChat(messages, true);
}

/**
 * Post-instruction positions: the template tokens after the last user message's content, through the
 * generation prompt (for ChatML: <|im_end|>, \n, <|im_start|>, assistant, \n). One slot per position.
 */
export function postInstructionPositions(tok: ChatTokenizer, messages: ChatMessage[], where = 'prompt'): number[] {
  const ids = promptIds(tok, messages);
  const text = tok.renderChat(messages, true);
  const user = [...messages].reverse().find((m) => m.role === 'user');
  if (!user) throw new UserError(`${where}: no user message`);
  const end = text.lastIndexOf(user.content) + user.content.length;
  const head = tok.encode(text.slice(0, end), false);
  if (!head.every((x, i) => ids[i] === x) || head.length >= ids.length) throw new UserError(`${where}: cannot locate the post-instruction tokens in the rendered template`);
  return Array.from({ length: ids.length - head.length }, (_, i) => head.length + i);
}

/** A sample for a prompt under the given rule (prompts have no answer: answer-mean is not defined for them). */
export function promptSample(tok: ChatTokenizer, messages: ChatMessage[], rule: PositionRule, where = 'prompt'): Sample {
  const ids = promptIds(tok, messages);
  switch (rule) {
    case 'last-prompt':
      return { ids, slots: [[ids.length - 1]] };
    case 'prompt-mean':
      return { ids, slots: [ids.map((_, i) => i)] };
    case 'post-instruction':
      return { ids, slots: postInstructionPositions(tok, messages, where).map((p) => [p]) };
    default:
      throw new UserError(`${where}: positions "${rule}" need an answer; prompts take last-prompt or post-instruction`);
  }
}
