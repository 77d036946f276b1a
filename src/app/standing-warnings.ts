/**
 * Warnings that stand from one map to the next (docs/observability.md "Logs"): the shard map's (too
 * few zones for the replicas) and the translator's (a weight capped for the proxies). Each is
 * logged when it appears, when it changes, when it comes back after a round without it, and while
 * it stands at most once per {@link WARNING_REMINDER_MS}; not at every round, since a standing one
 * would repeat at every map change (with a change every 10 s, thousands of lines a day).
 */
import type { Logger } from 'pino';

/**
 * A warning that stands across map changes is logged again, as a reminder, at most this often
 * (1 h): often enough to be seen in a log kept a day, rare enough that a map change every 10 s
 * does not repeat it thousands of times a day.
 */
export const WARNING_REMINDER_MS = 60 * 60 * 1000;

export interface StandingWarningsOptions {
  /** The log line's text for a warning; default the warning itself. */
  readonly message?: (warning: string) => string;
  /** What makes two warnings one (default: equal text). */
  readonly keyOf?: (warning: string) => string;
  /** Monotonic clock, ms (tests pass their own). */
  readonly now?: () => number;
}

/** The log of standing warnings, round by round (a computed map, a published view). */
export class StandingWarnings {
  #round = 0;
  /** By key: the latest round that had it and when it was last logged. */
  readonly #standing = new Map<string, { round: number; loggedAt: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly opts: StandingWarningsOptions = {},
  ) {}

  /** Begins a round and returns its number; what neither it nor the round before had is gone (logged if it comes back). */
  nextRound(): number {
    const n = ++this.#round;
    for (const [key, w] of this.#standing) if (w.round < n - 1) this.#standing.delete(key);
    return n;
  }

  /**
   * Round `round`'s warnings, with `fields` for the lines logged. A round may be reported in parts
   * (every proxy class of a view), and rounds interleaved (the view served and the one built ahead):
   * a warning stands while each round has it since the one before.
   */
  report(round: number, warnings: readonly string[], fields: Record<string, unknown>): void {
    const { keyOf = (w: string) => w, message = (w: string) => w, now = () => performance.now() } = this.opts;
    for (const text of warnings) {
      const key = keyOf(text);
      const held = this.#standing.get(key);
      const at = now();
      const stands = held !== undefined && held.round >= round - 1;
      if (stands && at - held.loggedAt < WARNING_REMINDER_MS) {
        held.round = Math.max(held.round, round);
        continue;
      }
      this.#standing.set(key, { round: Math.max(held?.round ?? 0, round), loggedAt: at });
      this.logger.warn({ ...fields, ...(stands ? { reminder: true } : {}) }, message(text));
    }
  }
}
