// Logging to stderr (stdout is reserved for results) and one-line user errors.
// No tensor axes.
// EMLENS_LOG_TIME=1 prefixes each line with the wall-clock time and the process id (where a long run spends its time,
// across the study's processes)
export const logTimes = process.env.EMLENS_LOG_TIME === '1';
export function log(msg: string): void {
  process.stderr.write((logTimes ? `[${new Date().toISOString().slice(11, 22)} ${process.pid}] ` : '') + msg + '\n');
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
