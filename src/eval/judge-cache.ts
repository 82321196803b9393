// An on-disk cache of judgements keyed by judge + prompt kind + question + answer, so re-runs cost nothing.
// One JSONL file per judge, appended as results arrive. No tensor axes.
import { sha256 } from '../util/hash.ts';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export class JudgeCache {
  private readonly map = new Map<string, number | null>();
  private readonly file: string;

  constructor(dir: string, judgeName: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${sha256(judgeName).slice(0, 16)}.jsonl`);
    if (existsSync(this.file)) {
      for (const line of readFileSync(this.file, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const { k, v } = JSON.parse(line) as { k: string; v: number | null };
          this.map.set(k, v);
        } catch {
          // a line cut short by a crash: ignore it, the judgement is asked again
        }
      }
    }
  }

  /** The key of one judge call: what is scored and the whole prompt sent (template, question and answer). */
  static key(kind: string, prompt: string): string {
    return sha256(JSON.stringify([kind, prompt]));
  }

  get(key: string): number | null | undefined {
    return this.map.get(key);
  }

  set(key: string, value: number | null): void {
    this.map.set(key, value);
    appendFileSync(this.file, JSON.stringify({ k: key, v: value }) + '\n');
  }

  get size(): number {
    return this.map.size;
  }
}
