/**
 * The `keyway` command as a function (public contract: `keyway --help`, README "Running keyway").
 * Exit status: 0 success or graceful shutdown, 1 runtime failure, 2 bad usage or invalid topology file.
 */
import { loadConfigFile } from '../config/index.js';
import { isConfigError } from '../core/errors.js';
import { type Command, parseCommand, USAGE, UsageError } from './args.js';
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
      return check(cmd.config);
    case 'serve':
      // The server's modules load only for `serve`: `--help` and `check` start in a fraction of the time.
      return (await import('../app/index.js')).serveCommand(cmd);
  }
}

async function check(file: string): Promise<number> {
  try {
    const cfg = await loadConfigFile(file);
    const t = cfg.topology;
    process.stdout.write(
      `${file}: ok: ${t.policy.shardCount} shards, ${t.policy.replicas} replicas, spread ${t.policy.spread}, ` +
        (cfg.kubernetes ? 'endpoints from Kubernetes\n' : `${t.endpoints.length} endpoints\n`),
    );
    return 0;
  } catch (err) {
    if (isConfigError(err)) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
