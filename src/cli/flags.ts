// Library errors said in the command line's words: an EmlensError names the library parameter (options.maxLen,
// spec.steer[0].layer, recipe); the CLI says the flag that set it (--max-len, --steer, --recipe). No tensor axes.
import type { Command } from 'commander';
import { EmlensError } from '../util/errors.ts';
import { UserError } from '../util/log.ts';

/** Parameters whose flag is not their own name (a prefix covers its fields and items: spec.steer[0].layer → --steer). */
const FLAG_OF: [string, string][] = [
  ['spec.adapter', '--adapter'], ['spec.loraProjection', '--ablate-lora'], ['spec.gateScale', '--gate-scale'], ['spec.gates', '--gates'],
  ['spec.steer', '--steer'], ['spec.ablate.layers', '--ablate-layers'], ['spec.ablate.mode', '--ablate-mode'], ['spec.ablate', '--ablate'],
  ['options.r', '--rank'], ['choice', '--backend'], ['overrides', '--recipe'], ['options.val.harmful', '--val-pos'], ['options.val.harmless', '--val-neg'],
  ['modelDir', '--model'], ['options.layout', '--vector-layout'],
];

/** The flag that set `param`: the table above, else the first of its names that is an option of `command` (maxLen → --max-len). */
export function flagOf(param: string, command?: Command): string | undefined {
  const known = FLAG_OF.find(([p]) => param === p || param.startsWith(`${p}.`) || param.startsWith(`${p}[`));
  if (known) return known[1];
  const names = param.split(/[.[\]]/).filter((n) => n && n !== 'options' && !/^\d+$/.test(n));
  for (const n of names) {
    const flag = command?.options.find((o) => o.attributeName() === n)?.long;
    if (flag) return flag;
  }
  return undefined;
}

/**
 * An EmlensError said with its flag (`--max-len 4096: …`), and the parameters its detail mentions with theirs
 * (`… (--lr 0.1 is too large?)`), the exit code kept; other errors, and parameters no flag sets, as they are.
 */
export function withFlag(e: unknown, command?: Command): unknown {
  if (!(e instanceof EmlensError)) return e;
  const flag = flagOf(e.param, command);
  const say = (p: string) => flagOf(p, command);
  if (!flag && !e.mentions.some(say)) return e;
  return new UserError(e.saidAs(flag ?? e.param, say), e.exitCode);
}

/** The (sub)command argv names: `emlens organism build …` → organism's build. */
export function commandOf(program: Command, args: string[]): Command {
  let c = program;
  for (const a of args) {
    const sub = c.commands.find((s) => s.name() === a || s.aliases().includes(a));
    if (!sub) break;
    c = sub;
  }
  return c;
}
