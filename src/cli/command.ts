/**
 * The `keyway` command as a function (public contract: `keyway --help`, README "Running keyway").
 * Exit status: 0 success or graceful shutdown, 1 runtime failure, 2 bad usage or invalid topology file.
 */
import { type Command, parseCommand, USAGE, UsageError } from './args.js';
import { checkCommand } from './check.js';
import { isClientCommand, runClientCommand } from './commands/index.js';

/** Runs one command; resolves with the exit status once the command is done (serve: after shutdown). */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  // Client commands (status, shardmap, lookup, diff) parse their own options.
  if (argv[0] !== undefined && isClientCommand(argv[0])) return runClientCommand(argv[0], argv.slice(1), env);
  let cmd: Command;
  try {
    cmd = parseCommand(argv, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`keyway: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  switch (cmd.command) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case 'check':
      return checkCommand(cmd.config);
    case 'serve':
      // The server's modules load only for `serve`: `--help` and `check` start in a fraction of the time.
      return (await import('../app/index.js')).serveCommand(cmd);
  }
}
