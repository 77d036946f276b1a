/**
 * The `keyway` command as a function (public contract: `keyway --help`, README "Running keyway").
 * Exit status: 0 success or graceful shutdown, 1 runtime failure, 2 bad usage or invalid topology file.
 */
import { CHECK_USAGE, type Command, parseCommand, SERVE_USAGE, USAGE, UsageError } from './args.js';
import { releaseHeldSignals } from '../app/held-signals.js';
import { clientInvocation, type ClientCommand, isClientCommand } from './commands/invocation.js';
import type { CommandIo } from './commands/options.js';
import { internalErrorText } from './internal-error.js';

/** The process's own streams: where the real command writes (tests pass their own). */
const PROCESS_IO: CommandIo = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) };

/** Runs one command; resolves with the exit status once the command is done (serve: after shutdown). */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo = PROCESS_IO): Promise<number> {
  // Client commands (status, shardmap, lookup, diff) parse their own options.
  const client = clientInvocation(argv);
  if (client !== undefined) return runClientCommand(client.name, client.args, env, io);
  try {
    return await serverCommand(argv, env, io);
  } catch (err) {
    // A bug: one line, exit 1; the stack trace only when KEYWAY_DEBUG asks for it.
    const name = argv[0] === 'serve' || argv[0] === 'check' || argv[0] === 'help' ? argv[0] : undefined;
    io.err(internalErrorText(name, err, env));
    return 1;
  }
}

/** serve, check and help. */
async function serverCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(argv, env);
  } catch (err) {
    releaseHeldSignals();
    if (!(err instanceof UsageError)) throw err;
    io.err(`keyway: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  // Only serve handles signals (src/app/held-signals.ts); the others take Node's default.
  if (cmd.command !== 'serve') releaseHeldSignals();
  switch (cmd.command) {
    case 'help':
      return help(cmd.topic, io);
    case 'check':
      return (await import('./check.js')).checkCommand(cmd.config, io);
    case 'serve':
      // The server's modules load only for `serve`: `--help` and `check` start in a fraction of the time.
      return (await import('../app/index.js')).serveCommand(cmd);
  }
}

/**
 * Runs a client command (docs/cli.md). Its modules load here, on first use, so `keyway serve` never
 * holds them (docs/benchmarks.md "Idle memory").
 */
async function runClientCommand(name: ClientCommand, args: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo): Promise<number> {
  return (await import('./commands/index.js')).runClientCommand(name, args, env, io);
}

/** Prints the help of `topic` (a command), or the global usage without one. Resolves with the exit status. */
async function help(topic: string | undefined, io: CommandIo): Promise<number> {
  if (topic !== undefined && isClientCommand(topic)) return runClientCommand(topic, ['--help'], {}, io);
  const text = topic === undefined ? USAGE : topic === 'serve' ? SERVE_USAGE : topic === 'check' ? CHECK_USAGE : undefined;
  if (text === undefined) {
    io.err(`keyway: unknown command ${JSON.stringify(topic)}\n\n${USAGE}\n`);
    return 2;
  }
  io.out(`${text}\n`);
  return 0;
}
