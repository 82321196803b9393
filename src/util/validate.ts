// One validation layer for numbers read from files (config.json, adapter_config.json, safetensors headers) and for
// tensor data (finite values), each error naming the file and the key or tensor. No tensor axes (flat host arrays).
import { UserError } from './log.ts';

export interface IntRule {
  min?: number;
  max?: number;
}

/** `value` as an integer within [min, max], else one UserError naming `where` and `key`. */
export function checkInt(value: unknown, where: string, key: string, { min = -Infinity, max = Infinity }: IntRule = {}): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UserError(`${where}: "${key}" must be ${describeRange('an integer', min, max)}, not ${JSON.stringify(value)}`);
  }
  return value;
}

export interface NumberRule {
  min?: number;
  max?: number;
  /** The lower bound itself is refused (e.g. a scale > 0). */
  exclusiveMin?: boolean;
  /** The upper bound itself is refused (e.g. a probability < 1). */
  exclusiveMax?: boolean;
}

/** `value` as a finite number within the range, else one UserError naming `where` and `key`. */
export function checkNumber(value: unknown, where: string, key: string, rule: NumberRule = {}): number {
  const { min = -Infinity, max = Infinity, exclusiveMin = false, exclusiveMax = false } = rule;
  const ok = typeof value === 'number' && Number.isFinite(value) && (exclusiveMin ? value > min : value >= min) && (exclusiveMax ? value < max : value <= max);
  if (!ok) throw new UserError(`${where}: "${key}" must be ${describeRange('a number', min, max, exclusiveMin, exclusiveMax)}, not ${JSON.stringify(value)}`);
  return value as number;
}

/** Optional key: undefined (or null) gives the default, anything else must pass `check`. */
export function optional<T>(value: unknown, dflt: T, check: (v: unknown) => T): T {
  return value === undefined || value === null ? dflt : check(value);
}

function describeRange(what: string, min: number, max: number, exMin = false, exMax = false): string {
  const lo = min === -Infinity ? '' : `${exMin ? '>' : '≥'} ${min}`;
  const hi = max === Infinity ? '' : `${exMax ? '<' : '≤'} ${max}`;
  return [what, [lo, hi].filter(Boolean).join(' and ')].filter(Boolean).join(' ');
}

/** The index of the first NaN or ±Infinity in `data`, or -1 (one pass, no allocation). */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (x !== x || x === Infinity || x === -Infinity) return i;
  }
  return -1;
}

/** Throws one UserError naming `where` (a file and a tensor) when `data` holds a NaN or an infinity. */
export function checkFinite(data: ArrayLike<number>, where: string): void {
  const i = firstNonFinite(data);
  if (i >= 0) throw new UserError(`${where}: value ${i} is ${data[i]} (NaN or infinite weights would give silently wrong results)`);
}

/** What is wrong with `v` as a chat (a non-empty list of {role: system|user|assistant, content: text}), or undefined. */
export function chatMessagesProblem(v: unknown): string | undefined {
  if (!Array.isArray(v)) return `"messages" must be a list of {"role", "content"}, not ${JSON.stringify(v)?.slice(0, 40)}`;
  if (!v.length) return '"messages" is empty';
  for (const [i, m] of v.entries()) {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return `messages[${i}] must be {"role", "content"}, not ${JSON.stringify(m)?.slice(0, 40)}`;
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (role !== 'system' && role !== 'user' && role !== 'assistant') return `messages[${i}].role must be system, user or assistant, not ${JSON.stringify(role)}`;
    if (typeof content !== 'string') return `messages[${i}].content must be a text, not ${JSON.stringify(content)?.slice(0, 40)}`;
  }
  return undefined;
}
