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
