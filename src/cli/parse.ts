// Flag value parsing with one clear error naming the flag.
// No tensor axes.
import { existsSync } from 'node:fs';
import { UsageError, UserError } from '../util/log.ts';
import { readTextFile } from '../util/fs.ts';
import { LINEAR_NAMES, type LinearName } from '../model/modules.ts';

export function parseNumber(v: string, flag: string, check: (x: number) => boolean, want: string): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new UsageError(`${flag} ${v}: expected ${want}`);
  return x;
}

/** Comma-separated non-negative integers; a usage error naming `flag` and what it wants (block indices by default). */
export function parseIntList(s: string, flag: string, want = 'comma-separated block indices, e.g. 12,13'): number[] {
  return s.split(',').map((p) => {
    if (!/^\s*\d+\s*$/.test(p)) throw new UsageError(`${flag} ${s}: expected ${want}`);
    return Number(p);
  });
}

/** Blocks named by `flag` checked against the model's layer count (read from config.json, before any weight): a usage error. */
export function checkLayersInRange(layers: number[], nLayers: number, flag: string): void {
  const bad = layers.filter((l) => l < 0 || l >= nLayers);
  if (bad.length) throw new UsageError(`${flag} ${layers.join(',')}: block ${bad.join(', ')} is out of range (the model has ${nLayers} blocks: 0..${nLayers - 1})`);
}

/** --targets: comma-separated linear module names, each one the runtime knows. */
export function parseTargets(s: string, flag = '--targets'): LinearName[] {
  const names = s.split(',').map((t) => t.trim());
  const bad = names.filter((n) => !LINEAR_NAMES.includes(n as LinearName));
  if (bad.length || !names.length) throw new UsageError(`${flag} ${s}: unknown module ${bad.map((b) => JSON.stringify(b)).join(', ')} (expected a comma-separated list of ${LINEAR_NAMES.join(', ')})`);
  return names as LinearName[];
}

export function parseInteger(v: string, flag: string, min = -Infinity): number {
  return parseNumber(v, flag, (x) => Number.isInteger(x) && x >= min, min === -Infinity ? 'an integer' : `an integer ≥ ${min}`);
}

export function parsePort(v: string): number {
  return parseNumber(v, '--port', (x) => Number.isInteger(x) && x >= 0 && x < 65536, 'a port number');
}

/**
 * A JSON object given to `flag` inline (text starting with "{") or as the path of a JSON file; anything else, bad
 * JSON, or JSON that is not an object is one UserError naming the flag (and the file). `what` says what it holds.
 */
export function readJsonObjectArg(arg: string, flag: string, what: string): Record<string, unknown> {
  const inline = arg.trimStart().startsWith('{');
  const where = inline ? flag : `${flag} ${arg}`;
  if (!inline && !existsSync(arg)) throw new UserError(`${where}: neither a JSON object nor a file`);
  let v: unknown;
  try {
    v = JSON.parse(inline ? arg : readTextFile(arg));
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${flag} ${e.message}`);
    throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${where}: expected a JSON object of ${what}`);
  return v as Record<string, unknown>;
}
