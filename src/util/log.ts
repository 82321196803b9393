// Logging to stderr (stdout is reserved for results) and one-line user errors.
// No tensor axes.
export function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** An error meant for the user: the CLI prints its message alone (no stack) and exits 1. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** A command line that cannot mean anything (a malformed flag value, a missing or conflicting flag): exit code 2. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, 2);
  }
}
