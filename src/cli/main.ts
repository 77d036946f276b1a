/**
 * Entry point of the `keyway` command: bin/keyway.js imports the compiled form of this file, and
 * `node --import tsx src/cli/main.ts` runs it from source. Tests import `command.ts` instead.
 * Client commands (status, shardmap, lookup, diff) are dispatched before the server's modules are
 * loaded, so they start quickly.
 */
import './signal-hold.js';
import './young-generation-hold.js';
import { internalErrorText } from './internal-error.js';
import { releaseHeldSignals } from '../app/held-signals.js';

/** The first error each output stream reported; an 'error' event without a listener would crash the process. */
const writeErrors = new Map<NodeJS.WriteStream, Error>();
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: Error) => {
    if (!writeErrors.has(stream)) writeErrors.set(stream, err);
  });
}

const argv = process.argv.slice(2);
/** The client command run, once known (named in an internal error). */
let client: { readonly name: string } | undefined;
// Imported here, not above: the client commands' modules take a few hundred ms to load, and the
// signal hold (signal-hold.ts) is only in place once the static imports have loaded. Only the
// question "which client command?" is loaded first: `keyway serve` never loads the client
// commands themselves (docs/benchmarks.md "Idle memory").
const run = import('./commands/invocation.js').then((m) => {
  const invocation = m.clientInvocation(argv);
  client = invocation;
  if (invocation === undefined) return import('./command.js').then((c) => c.main(argv, process.env));
  return import('./commands/index.js').then((commands) => {
    // A client command whose arguments say `serve` (`keyway lookup serve`): not serve after all.
    releaseHeldSignals();
    return commands.runClientCommand(invocation.name, invocation.args, process.env);
  });
});

/**
 * Exits with `code` once stdout and stderr have taken everything written to them. Past a pipe's
 * buffer (64 KiB on Linux) Node writes to it asynchronously, and `process.exit` at once would cut
 * `keyway diff --shards -o json | jq` short. A reader that has gone away (`| head`) fails the
 * write, which ends the wait too, quietly. Any other failed write of the output (a full disk)
 * is said on stderr, if it still takes it, and fails the command.
 */
function exitWhenFlushed(code: number): void {
  let pending = 2;
  const flushed = (stream: NodeJS.WriteStream) => (err?: Error | null): void => {
    if (err && !writeErrors.has(stream)) writeErrors.set(stream, err);
    if (--pending === 0) exitAfterWrites(code);
  };
  process.stdout.write('', flushed(process.stdout));
  process.stderr.write('', flushed(process.stderr));
}

function exitAfterWrites(code: number): void {
  const failed = [...writeErrors].find(([, err]) => (err as NodeJS.ErrnoException).code !== 'EPIPE');
  if (failed === undefined) process.exit(code);
  const [stream, err] = failed;
  const failedCode = code === 0 ? 1 : code;
  if (stream === process.stderr) process.exit(failedCode);
  process.stderr.write(`keyway: cannot write the output: ${err.message}\n`, () => process.exit(failedCode));
}

// Both entry points report their own errors; this is the last resort (a module that fails to load).
run.then(exitWhenFlushed, (err: unknown) => {
  process.stderr.write(internalErrorText(client?.name, err, process.env));
  exitWhenFlushed(1);
});
