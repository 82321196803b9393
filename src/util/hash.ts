// sha256 digests for cache keys and provenance: of a text or bytes, and of a file's bytes; JSON with sorted keys.
// No tensor axes.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/** Hex sha256 of a text or of bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hex sha256 of a file's bytes. */
export function fileSha256(path: string): string {
  return sha256(readFileSync(path));
}

/** JSON with every object's keys sorted and undefined members left out: equal data, equal text, whatever the key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
}

/**
 * A file's sha256, read again only when its inode, size or modification time changed (a study asks for the same
 * adapters and directions once per eval; atomic writes give a rewritten file a new inode).
 */
const digests = new Map<string, { stamp: string; digest: string }>();
export function cachedFileSha256(file: string): string {
  const st = statSync(file);
  const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
  const known = digests.get(file);
  if (known?.stamp === stamp) return known.digest;
  const digest = fileSha256(file);
  digests.set(file, { stamp, digest });
  return digest;
}
