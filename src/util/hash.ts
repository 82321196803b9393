// sha256 digests for cache keys and provenance: of a text or bytes, and of a file's bytes; JSON with sorted keys.
// No tensor axes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

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
