// Typed library errors: an EmlensError names the parameter (or file) it is about, so a script sees `param` and the
// CLI can say which flag it came from. No tensor axes.
import { UserError } from './log.ts';

/**
 * A bad argument or input file given to a library call. `param` is the name of the parameter as the library calls it
 * (e.g. `spec.steer[0].layer`, `options.maxNewTokens`); the message does not speak of command-line flags.
 * It is a UserError, so the CLI prints it as one line.
 */
export class EmlensError extends UserError {
  constructor(readonly param: string, readonly detail: string, exitCode = 1) {
    super(`${param}: ${detail}`, exitCode);
    this.name = 'EmlensError';
  }
}

/**
 * A library error still worded for the command line (`--layers: layer 9 is out of range`, from code below the CLI
 * that has not been given its own EmlensError yet) as an EmlensError on `scope.layers`; other errors unchanged.
 */
export function asParamError(e: unknown, scope: string): unknown {
  if (e instanceof EmlensError || !(e instanceof UserError)) return e;
  const m = /^--([a-z][a-z0-9-]*)(?: [^:]*)?: ([\s\S]*)$/.exec(e.message);
  if (!m) return e;
  return new EmlensError(`${scope}.${m[1].replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())}`, m[2], e.exitCode);
}
