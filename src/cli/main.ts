/**
 * Entry point of the `keyway` command: bin/keyway.js imports the compiled form of this file, and
 * `node --import tsx src/cli/main.ts` runs it from source. Tests import `command.ts` instead.
 * Client commands (status, shardmap, lookup, diff) are dispatched before the server's modules are
 * loaded, so they start quickly.
 */
import { isClientCommand } from './commands/index.js';

const argv = process.argv.slice(2);
const run =
  argv[0] !== undefined && isClientCommand(argv[0])
    ? import('./commands/index.js').then((m) => m.runClientCommand(argv[0] as Parameters<typeof m.runClientCommand>[0], argv.slice(1), process.env))
    : import('./command.js').then((m) => m.main(argv, process.env));

run.then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`keyway: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
