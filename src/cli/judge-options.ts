// The judge options of every command that judges answers (eval, extract --kind persona, run): the organism's exact
// judge or an OpenAI-compatible endpoint, its model name and its on-disk cache. No tensor axes.
import type { Command } from 'commander';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OrganismJudge } from '../eval/organism-judge.ts';
import { HttpJudge, JUDGE_API_KEY_ENV, publicUrl } from '../eval/http-judge.ts';
import type { Judge } from '../eval/judge.ts';

export interface JudgeOpts {
  judge: string;
  judgeModel: string;
  judgeCache: string;
}

export const DEFAULT_JUDGE_CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'emlens', 'judge');

export function addJudgeOptions(cmd: Command): Command {
  return cmd
    .option('--judge <organism|url>', 'organism (exact), or an OpenAI-compatible chat-completions endpoint (…/v1/chat/completions, or the API base …/v1; key: $EMLENS_JUDGE_API_KEY)', 'organism')
    .option('--judge-model <name>', 'model name sent to the HTTP judge', 'gpt-4o-2024-08-06')
    .option('--judge-cache <dir>', 'where HTTP judgements are cached', DEFAULT_JUDGE_CACHE);
}

export function judgeFromOptions(o: JudgeOpts): Judge {
  if (o.judge === 'organism') return new OrganismJudge();
  return new HttpJudge({ url: o.judge, model: o.judgeModel, apiKey: process.env[JUDGE_API_KEY_ENV], cacheDir: o.judgeCache });
}

/** --judge as a report records it: organism, or the URL without credentials or a key from its query string. */
export function judgeLabel(o: Pick<JudgeOpts, 'judge'>): string {
  return o.judge === 'organism' ? o.judge : publicUrl(o.judge);
}
