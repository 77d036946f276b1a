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

/**
 * Exits with `code` once stdout and stderr have taken everything written to them. Past a pipe's
 * buffer (64 KiB on Linux) Node writes to it asynchronously, and `process.exit` at once would cut
 * `keyway diff --shards -o json | jq` short. A reader that has gone away (`| head`) fails the
 * write, which ends the wait too.
 */
function exitWhenFlushed(code: number): void {
  let pending = 2;
  const flushed = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}

run.then(exitWhenFlushed, (err: unknown) => {
  process.stderr.write(`keyway: ${(err as Error).stack ?? String(err)}\n`);
  exitWhenFlushed(1);
});
