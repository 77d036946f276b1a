/**
 * Which client command (docs/cli.md: status, shardmap, lookup, diff) a `keyway` command line
 * names, if any. Kept apart from the commands themselves (`index.ts`) so that `keyway serve`,
 * which asks only this question, does not load the client commands' modules (about 1.4 MB of
 * heap held for the life of the server, docs/benchmarks.md "Idle memory").
 */
import { CLIENT_COMMANDS } from '../args.js';

export type ClientCommand = (typeof CLIENT_COMMANDS)[number];

/** Whether `keyway NAME` is a client command of docs/cli.md, dispatched here rather than to `serve` or `check`. */
export function isClientCommand(name: string): name is ClientCommand {
  return (CLIENT_COMMANDS as readonly string[]).includes(name);
}

/** The client options that may also come before the command, as kubectl's global flags do. */
const LEADING_VALUE_OPTIONS = ['--server', '--token', '--output', '-o'];

/**
 * The client command of `argv` and its arguments, or undefined when `argv` names none. Leading
 * `--server`, `--token` and `-o` (`keyway --server X status`) are moved after the command's
 * name, before its own arguments (so before any `--`).
 */
export function clientInvocation(argv: readonly string[]): { readonly name: ClientCommand; readonly args: readonly string[] } | undefined {
  let i = 0;
  for (;;) {
    const arg = argv[i];
    if (arg === undefined) return undefined;
    if (LEADING_VALUE_OPTIONS.includes(arg)) i += 2;
    else if (LEADING_VALUE_OPTIONS.some((o) => o.startsWith('--') && arg.startsWith(`${o}=`)) || /^-o./s.test(arg)) i += 1;
    else break;
  }
  const name = argv[i]!;
  if (!isClientCommand(name)) return undefined;
  return { name, args: [...argv.slice(0, i), ...argv.slice(i + 1)] };
}
