/**
 * The log of refusals a client can repeat in a loop (docs/security.md "xDS streams"): streams
 * refused at a stream cap, warm and load reports refused. One `warn` line when a burst of refusals
 * starts and one `info` line with its count when it ends (after REFUSAL_BURST_QUIET_MS without one,
 * or REFUSAL_BURST_MAX_MS after it began). A fleet reconnecting into a full replica,
 * or a client opening streams or sending reports in a loop, is refused thousands of times a second:
 * a line per refusal would flood the log and cost more than the refusal itself.
 */
import type { Logger } from 'pino';

/** A burst ends once no stream has been refused at that cap for this long. */
export const REFUSAL_BURST_QUIET_MS = 10_000;

/**
 * A burst also ends this long after it began, and the next refusal starts a new one, logged in full:
 * one client refused without a break (a node sending bad reports in a loop) otherwise kept its burst
 * open for ever, so the log never named another client refused at the same cap, nor gave a count.
 */
export const REFUSAL_BURST_MAX_MS = 300_000;

interface Burst {
  refused: number;
  readonly startedAt: number;
  readonly timer: NodeJS.Timeout;
}

export class RefusalLog {
  readonly #bursts = new Map<string, Burst>();

  constructor(
    private readonly log: Logger,
    private readonly quietMs = REFUSAL_BURST_QUIET_MS,
    /** What was refused, for the summary line: `xDS streams refused`, `admin REST connections closed`. */
    private readonly what = 'xDS streams refused',
    private readonly maxBurstMs = REFUSAL_BURST_MAX_MS,
    /** Monotonic clock, ms (tests set their own). */
    private readonly now: () => number = () => performance.now(),
    /** The fields naming the burst's key and its count (NACKs are not refusals: `nacked`, `nacks`). */
    private readonly fieldNames: { readonly key: string; readonly count: string } = { key: 'limit', count: 'refused' },
  ) {}

  /**
   * Records one refusal at cap `limit` (its setting's name); the first of a burst is logged with
   * `fields` and `message` (at `level`: `error` for keyway's own faults), the rest are counted.
   */
  refused(limit: string, fields: Record<string, unknown>, message: string, level: 'warn' | 'error' = 'warn'): void {
    let burst = this.#bursts.get(limit);
    if (burst && this.now() - burst.startedAt >= this.maxBurstMs) {
      this.#end(limit);
      burst = undefined;
    }
    if (burst) {
      burst.refused += 1;
      // Extends the burst: it ends quietMs after its last refusal.
      burst.timer.refresh();
      return;
    }
    this.log[level]({ ...fields, [this.fieldNames.key]: limit }, `${message} (further ones at ${limit} are counted, not logged, until none comes for ${this.quietMs / 1000} s, or for ${this.maxBurstMs / 1000} s at most)`);
    const timer = setTimeout(() => this.#end(limit), this.quietMs);
    // A pending summary must not keep the process alive.
    timer.unref();
    this.#bursts.set(limit, { refused: 1, startedAt: this.now(), timer });
  }

  /** Logs the end of every burst under way (at shutdown). */
  close(): void {
    for (const limit of [...this.#bursts.keys()]) this.#end(limit);
  }

  #end(limit: string): void {
    const burst = this.#bursts.get(limit);
    if (!burst) return;
    clearTimeout(burst.timer);
    this.#bursts.delete(limit);
    this.log.info({ [this.fieldNames.key]: limit, [this.fieldNames.count]: burst.refused }, `${this.what} at ${limit}: ${burst.refused} in the burst that just ended`);
  }
}
