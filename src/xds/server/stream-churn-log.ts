/**
 * The log of xDS streams opening and closing (docs/observability.md "Logs"). Each stream's own
 * `xDS stream opened` and `xDS stream closed` lines are at debug level; at info, one line per
 * STREAM_CHURN_LOG_INTERVAL_MS at most counts the streams opened (by flavor) and closed since the
 * last one, and those open. Every proxy reconnects at least once per connection age (30 min by
 * default), and a fleet of thousands, or one client reconnecting in a loop, made two info lines per
 * stream: a log volume growing with the fleet and with the client's loop, for no action to take.
 */
import type { Logger } from 'pino';
import type { ProxyFlavor } from '../../core/proxy.js';

/** At most one summary line this often, and none while no stream opened or closed. */
export const STREAM_CHURN_LOG_INTERVAL_MS = 60_000;

export class StreamChurnLog {
  #opened: Partial<Record<ProxyFlavor, number>> = {};
  #closed = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    /** Streams open now (with a node), for the summary. */
    private readonly openNow: () => number,
    private readonly intervalMs = STREAM_CHURN_LOG_INTERVAL_MS,
  ) {}

  opened(flavor: ProxyFlavor): void {
    this.#opened[flavor] = (this.#opened[flavor] ?? 0) + 1;
    this.#arm();
  }

  closed(): void {
    this.#closed += 1;
    this.#arm();
  }

  /** Logs what is counted and not yet logged (at shutdown). */
  close(): void {
    this.#flush();
  }

  #arm(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => this.#flush(), this.intervalMs);
    // A pending summary must not keep the process alive.
    this.#timer.unref();
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const opened = this.#opened;
    const closed = this.#closed;
    let total = closed;
    for (const n of Object.values(opened)) total += n;
    if (total === 0) return;
    this.#opened = {};
    this.#closed = 0;
    this.log.info(
      { opened, closed, open: this.openNow() },
      `xDS streams opened and closed in the last ${this.intervalMs / 1000} s at most (each stream's own lines are at debug level)`,
    );
  }
}
