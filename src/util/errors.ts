// Typed library errors: an EmlensError names the parameter (or file) it is about, so a script sees `param` and the
// CLI can say which flag it came from. No tensor axes.
import { UserError } from './log.ts';

/**
 * A bad argument or input file given to a library call. `param` is the name of the parameter as the library calls it
 * (e.g. `spec.steer[0].layer`, `options.maxNewTokens`); `value`, when given, is the value it was given (a path, a
 * number), said after the name: `options.maxLen 4096: longer than the model's context`. The message never speaks of
 * command-line flags; the CLI says the error with the flag in place of `param` (`--max-len 4096: …`).
 * It is a UserError, so the CLI prints it as one line; `exitCode` 2 marks a value that cannot mean anything (usage).
 */
export class EmlensError extends UserError {
  readonly value?: string;
  /** Parameters the detail may name (`param` itself, and a hint's: `… (options.lr 0.1 is too large?)`), each said as its flag by the CLI too. */
  readonly mentions: string[];
  /** Whether the parameter is named inside the detail rather than before it (a message about something else). */
  readonly inline: boolean;
  constructor(readonly param: string, readonly detail: string, o: { value?: string | number; exitCode?: number; mentions?: string[]; inline?: boolean } = {}) {
    super(o.inline ? detail : `${param}${o.value === undefined ? '' : ` ${o.value}`}: ${detail}`, o.exitCode ?? 1);
    this.name = 'EmlensError';
    if (o.value !== undefined) this.value = String(o.value);
    this.inline = o.inline ?? false;
    this.mentions = [...new Set([param, ...(o.mentions ?? [])])];
  }

  /**
   * The message with another name in place of the parameter's (a CLI flag, or a caller's own parameter), and each
   * parameter the detail mentions said as `sayMention` names it (kept where it gives none).
   */
  saidAs(name: string, sayMention: (param: string) => string | undefined = () => undefined): string {
    let detail = this.detail;
    for (const p of this.mentions) {
      const said = p === this.param ? name : sayMention(p);
      // a whole name only: not a part of a path, an id or a longer name (absent-model, models--x, model-diff)
      if (said) detail = detail.replace(new RegExp(`(?<![\\w./-])${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w.[/-])`, 'g'), said);
    }
    return this.inline ? detail : `${name}${this.value === undefined ? '' : ` ${this.value}`}: ${detail}`;
  }
}

/**
 * Runs `f`; a plain UserError it throws, whose message names `param` (as `param VALUE: …`), becomes an EmlensError about
 * `param`, so the CLI says it as its flag. For helpers that word their errors with a label they are given.
 */
export function namingParam<T>(param: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof UserError && !(e instanceof EmlensError)) throw new EmlensError(param, e.message, { inline: true, exitCode: e.exitCode });
    throw e;
  }
}
