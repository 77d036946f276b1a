/**
 * The signals `keyway serve` answers, caught from the moment the `keyway` command starts to load.
 * Loading the server's modules takes most of a second (more on a busy node), and until
 * serve-command.ts takes the signals over, Node's default would kill the process: a SIGHUP (a
 * config reloader's, documented as "re-read the file") ended keyway with 129, a SIGTERM with 143
 * instead of the documented graceful exit 0. Held here, they are handed to serve-command.ts in
 * the order they came. No imports: this module loads before any other.
 */

/** The signals `keyway serve` handles (README "Running keyway"). */
export const SERVE_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type ServeSignal = (typeof SERVE_SIGNALS)[number];

/** The signals received while held, in order; undefined when nothing holds them. */
let received: ServeSignal[] | undefined;
const record = (signal: NodeJS.Signals): void => void received?.push(signal as ServeSignal);

/** Starts holding the serve signals (idempotent). */
export function holdServeSignals(): void {
  if (received) return;
  received = [];
  for (const s of SERVE_SIGNALS) process.on(s, record);
}

/**
 * Stops holding and returns what came meanwhile (nothing when nothing held them). The caller must
 * have its own handlers in place, in the same synchronous run: between the two, a signal would
 * take Node's default and kill the process.
 */
export function takeHeldSignals(): ServeSignal[] {
  const signals = received ?? [];
  received = undefined;
  for (const s of SERVE_SIGNALS) process.off(s, record);
  return signals;
}

/**
 * Stops holding for a command that turned out not to serve (`keyway serve --help`, a usage
 * error): a signal that came meanwhile gets Node's default, as it would have without the hold.
 */
export function releaseHeldSignals(): void {
  const [first] = takeHeldSignals();
  if (first !== undefined) process.kill(process.pid, first);
}
