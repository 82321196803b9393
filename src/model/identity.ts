// What identifies a model folder for caches and resumes: its config, tokenizer and weights (weights by content up to
// 512 MiB, above that by name and size: a 14B checkpoint is ~28 GB). No tensor axes.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cachedFileSha256, sha256 } from '../util/hash.ts';

const MODEL_FILE = /^(config\.json|tokenizer\.json|.*\.safetensors)$/;
const HASHED_WEIGHTS_MAX = 512 * 2 ** 20;

/** The files modelIdentity reads, as errors name them. */
export const IDENTITY_FILES = 'config.json, tokenizer.json, weights';

/** Whether a recorded model folder is this one: its identity then differs because one of its files changed. */
export function sameModelFolder(recorded: string | undefined, modelDir: string): boolean {
  return recorded !== undefined && resolve(recorded) === resolve(modelDir);
}

export function modelIdentity(modelDir: string): string {
  const files = readdirSync(modelDir).filter((f) => MODEL_FILE.test(f)).sort();
  const weightBytes = files.filter((f) => f.endsWith('.safetensors')).reduce((n, f) => n + statSync(join(modelDir, f)).size, 0);
  return sha256(files.map((f) => {
    const path = join(modelDir, f);
    return `${f}:${f.endsWith('.safetensors') && weightBytes > HASHED_WEIGHTS_MAX ? `${statSync(path).size} bytes` : cachedFileSha256(path)}`;
  }).join('\n'));
}
