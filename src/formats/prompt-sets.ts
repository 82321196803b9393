// Prompt splits as refusal_direction ships them (harmful_train.json, harmless_val.json) and AdvBench-style lists: a
// JSON array of {"instruction": …, "category"?: …} objects or of strings, each one user prompt. No tensor axes.
import type { ChatMessage } from '../model/tokenizer.ts';
import { UserError, log } from '../util/log.ts';
import { readUserJson } from './text.ts';

const KNOWN = new Set(['instruction', 'category', 'source', 'id']);

/** One user prompt per entry; `where` names the file in errors ("--pos path"). */
export function readPromptSplit(path: string, where = path): ChatMessage[][] {
  const data = readUserJson(path, where);
  if (!Array.isArray(data) || !data.length) throw new UserError(`${where}: expected a non-empty JSON array of prompts (strings, or {"instruction": …} objects)`);
  const unknown = new Set<string>();
  const prompts = data.map((x, i): ChatMessage[] => {
    if (typeof x === 'string' && x.trim()) return [{ role: 'user', content: x }];
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      if (Array.isArray(o.messages)) throw new UserError(`${where}: entry ${i + 1} is a chat ({"messages"}); give chats as JSONL, one per line`);
      if (typeof o.instruction === 'string' && o.instruction.trim()) {
        for (const k of Object.keys(o)) if (!KNOWN.has(k)) unknown.add(k);
        return [{ role: 'user', content: o.instruction }];
      }
    }
    throw new UserError(`${where}: entry ${i + 1} is neither a prompt text nor an object with a non-empty "instruction"`);
  });
  if (unknown.size) log(`warning: ${where}: keys ${[...unknown].map((k) => `"${k}"`).join(', ')} not read by emlens (ignored)`);
  return prompts;
}
