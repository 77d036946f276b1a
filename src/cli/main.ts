/**
 * Entry point of the `keyway` command: bin/keyway.js imports the compiled form of this file, and
 * `node --import tsx src/cli/main.ts` runs it from source. Tests import `command.ts` instead.
 */
import { main } from './command.js';

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`keyway: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
