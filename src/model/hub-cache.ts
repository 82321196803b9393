// Hub ids (ORG/NAME[@REV]) resolved from the local Hugging Face cache as huggingface_hub lays it out
// (models--ORG--NAME/refs/<rev> → snapshots/<hash>/, files symlinked into blobs/); nothing is ever downloaded.
// No tensor axes.
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve, sep } from 'node:path';
import { EmlensError } from '../util/errors.ts';

const HUB_ID = /^([A-Za-z0-9][\w.-]*)\/([\w.-]+)(?:@([\w./-]+))?$/;

/** The hub cache folder: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's order). */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface', 'hub');
}

/** ORG/NAME[@REV] split, or undefined when `s` is not shaped like a hub id. */
export function parseHubId(s: string): { repo: string; org: string; name: string; rev?: string } | undefined {
  const m = HUB_ID.exec(s);
  if (!m || m[1] === '.' || m[1] === '..' || m[2] === '.' || m[2] === '..') return undefined;
  return { repo: `${m[1]}/${m[2]}`, org: m[1], name: m[2], rev: m[3] };
}

/**
 * A path on disk as given; else, when it looks like a hub id, the cached snapshot folder; else undefined. `param`: the
 * caller's name for `p`, which an error carries (an EmlensError).
 */
export function resolveLocalOrHub(p: string, param: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (existsSync(p)) return p;
  return parseHubId(p) ? resolveHubId(p, param, env) : undefined;
}

/**
 * The snapshot folder of ORG/NAME at REV (default main: a branch or tag under refs/, or a commit hash under snapshots/).
 * Missing: one error naming the folder looked in and how to fetch it.
 */
export function resolveHubId(id: string, param: string, env: NodeJS.ProcessEnv = process.env): string {
  const fail = (detail: string) => new EmlensError(param, detail, { value: id });
  const h = parseHubId(id);
  if (!h) throw fail('not a folder, nor a hub id (ORG/NAME[@REV])');
  const cache = hubCacheDir(env);
  const repoDir = join(cache, `models--${h.org}--${h.name}`);
  const fetch = `fetch it with \`huggingface-cli download ${h.repo}${h.rev ? ` --revision ${h.rev}` : ''}\` (emlens never downloads), or give a folder`;
  if (!existsSync(repoDir)) throw fail(`folder not found, and not in the Hugging Face cache (looked for ${repoDir}; cache from HF_HUB_CACHE, HF_HOME or ~/.cache/huggingface/hub); ${fetch}`);
  const rev = h.rev ?? 'main';
  const ref = join(repoDir, 'refs', rev);
  let hash: string | undefined;
  if (existsSync(ref) && statSync(ref).isFile()) hash = readFileSync(ref, 'utf8').trim();
  else if (/^[0-9a-f]{40}$/.test(rev)) hash = rev;
  const snapshots = join(repoDir, 'snapshots');
  if (!hash) {
    const refs = listRefs(join(repoDir, 'refs'));
    throw fail(`revision ${rev} is not in the cache (${repoDir} has ${refs.length ? `refs ${refs.join(', ')}` : 'no refs'}); ${fetch}`);
  }
  const snap = join(snapshots, hash);
  if (!existsSync(snap)) throw fail(`${rev} points to snapshot ${hash}, which is not in ${snapshots}; ${fetch}`);
  return snap;
}

function listRefs(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listRefs(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/** adapter_config.json's base_model_name_or_path of a PEFT folder (or of RUN/adapter), if it names one. */
export function adapterBaseModel(adapterDir: string): string | undefined {
  for (const dir of [adapterDir, join(adapterDir, 'adapter')]) {
    const f = join(dir, 'adapter_config.json');
    if (!existsSync(f)) continue;
    try {
      const v = (JSON.parse(readFileSync(f, 'utf8')) as { base_model_name_or_path?: unknown }).base_model_name_or_path;
      return typeof v === 'string' && v.trim() ? v.trim() : undefined;
    } catch {
      return undefined; // the adapter loader names a malformed config itself
    }
  }
  return undefined;
}

/**
 * Whether a model folder is what an adapter's base_model_name_or_path names: the same folder (after symlinks), or for a
 * hub id its cached snapshot, a folder named NAME, or a folder inside the cache's models--ORG--NAME.
 */
export function sameBaseModel(modelDir: string, base: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const m = real(modelDir);
  if (existsSync(base)) return real(base) === m;
  const h = parseHubId(base);
  if (!h) return basename(base) === basename(m);
  if (basename(m).toLowerCase() === h.name.toLowerCase()) return true;
  return m.split(sep).includes(`models--${h.org}--${h.name}`);
}
