// Reading the text of a user's file for the format readers: `.gz` inflated transparently (Node's zlib), a UTF-8
// byte-order mark dropped, a missing or unreadable file one UserError naming it. No tensor axes.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dropBom, readErrorReason } from '../util/fs.ts';
import { UserError } from '../util/log.ts';

/** The file's text (`where` names it in errors: the path, or "--flag path"). */
export function readUserText(path: string, where = path): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`${where}: ${readErrorReason(e)}`);
  }
  if (/\.gz$/i.test(path) || (bytes[0] === 0x1f && bytes[1] === 0x8b)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new UserError(`${where}: not a readable gzip file (${(e as Error).message})`);
    }
  }
  return dropBom(bytes.toString('utf8'));
}

/** The file parsed as JSON: a syntax error is one UserError naming it. */
export function readUserJson(path: string, where = path): unknown {
  const text = readUserText(path, where);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
  }
}

/** The extension that says what a file holds, `.gz` looked through: "data.jsonl.gz" → ".jsonl". */
export function innerExtension(path: string): string {
  const e = /\.[A-Za-z0-9]+$/.exec(path.replace(/\.gz$/i, ''));
  return e ? e[0].toLowerCase() : '';
}
