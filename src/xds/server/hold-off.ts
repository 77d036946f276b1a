/**
 * The subscription hold-off of one xDS stream (docs/xds-protocol.md "Bursts of subscription
 * changes"): a proxyless gRPC client subscribes to the clusters of a route configuration, then to
 * their endpoints, one name per request, and a state-of-the-world answer to each request repeats
 * every name asked so far, so answering each request at once costs the square of the names. A
 * request that changes a subscription therefore starts (or extends) a short wait for that type;
 * the answer goes out once the requests stop coming for `holdOffMs` (or a fifth of the burst's age,
 * if longer), and at the latest `maxDelayMs` after the first of them, carrying the whole burst.
 */

export interface SubscriptionHoldOff {
  /** Quiet time after the latest subscription change of a type before it is answered; 0 answers at once. */
  readonly holdOffMs: number;
  /** Bound on one burst's wait, from its first request. */
  readonly maxDelayMs: number;
}

/**
 * 50 ms: a grpc-js-xds client with hundreds of clusters pauses 20 ms and more inside one burst (it
 * handles each answer's clusters between its requests); measured in benchmarks/grpc-sync
 * (docs/benchmarks.md), 5 and 20 ms still split a burst of 248 clusters into 22 and 16 answers,
 * 50 ms answers it once. 10 s: the client's own requests grow with the square of its clusters
 * (889 clusters: 13 MB of requests per type, paced by HTTP/2 flow control over seconds), and a
 * bound of 500 ms split that burst into 10 answers; the bound only matters for a client that never
 * pauses, which delays no one but itself.
 */
export const DEFAULT_SUBSCRIPTION_HOLD_OFF: SubscriptionHoldOff = { holdOffMs: 50, maxDelayMs: 10_000 };

/**
 * A burst that has run for t ms is answered after a pause of max(holdOffMs, t / 5): a grpc-js-xds
 * client with 889 clusters, on two busy cores, pauses over 150 ms inside a burst of seconds.
 */
export const BURST_AGE_QUIET_RATIO = 0.2;
/** A burst is over once its changes stop for this long; the next change starts a new one. */
export const BURST_IDLE_MS = 1_000;

interface Held {
  /** When the burst's first change came. */
  readonly first: number;
  readonly timer: NodeJS.Timeout;
}

/** The per-kind hold-off timers of one stream; `onDue(key)` runs when a held key may be answered. */
export class HoldOffTimers<K> {
  readonly #held = new Map<K, Held>();
  /** Per key, when its current burst of changes started and when its latest change came. */
  readonly #bursts = new Map<K, { readonly start: number; last: number }>();

  constructor(
    private readonly settings: SubscriptionHoldOff,
    private readonly onDue: (key: K) => void,
    /**
     * The clock bursts are timed on, ms: monotonic, so a wall clock stepped back while a client keeps
     * changing its subscription does not stretch the `maxDelayMs` bound by the size of the step.
     */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Is `key` waiting for its burst to end? */
  has(key: K): boolean {
    return this.#held.has(key);
  }

  /** Any key waiting? */
  get size(): number {
    return this.#held.size;
  }

  /** A subscription of `key` changed: (re)starts its wait, bounded by `maxDelayMs` from the burst's first change. */
  touch(key: K): void {
    const { holdOffMs, maxDelayMs } = this.settings;
    if (holdOffMs <= 0) return;
    const now = this.now();
    const held = this.#held.get(key);
    const first = held?.first ?? now;
    // The longer a burst has run, the longer a pause inside it may be (the client handles what it
    // was sent between its requests): the quiet time grows to a fifth of the burst's age. A burst
    // answered in the middle goes on (the client asks for the rest): its age counts from its start
    // until the changes stop for BURST_IDLE_MS.
    let burst = this.#bursts.get(key);
    if (!burst || now - burst.last > BURST_IDLE_MS) this.#bursts.set(key, (burst = { start: now, last: now }));
    burst.last = now;
    const quiet = Math.max(holdOffMs, (now - burst.start) * BURST_AGE_QUIET_RATIO);
    const delay = Math.max(0, Math.min(quiet, first + maxDelayMs - now));
    if (held) clearTimeout(held.timer);
    const entry = { first, timer: setTimeout(() => this.#expire(key, entry, delay < quiet), delay) };
    entry.timer.unref();
    this.#held.set(key, entry);
  }

  /**
   * The quiet time passed on the clock, but the requests of the burst may be waiting unread behind
   * keyway's own work: a poll for I/O runs before setImmediate, so a request read there touches the
   * key again (a new entry) and this one stands down. Past `maxDelayMs` it goes anyway.
   */
  #expire(key: K, entry: Held, final: boolean): void {
    const settle = (): void => {
      if (this.#held.get(key) !== entry) return;
      this.#held.delete(key);
      this.onDue(key);
    };
    if (final) settle();
    else setImmediate(settle);
  }

  /** Drops every wait (the stream ended). */
  clear(): void {
    for (const { timer } of this.#held.values()) clearTimeout(timer);
    this.#held.clear();
    this.#bursts.clear();
  }
}
