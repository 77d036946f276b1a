/**
 * The subscription hold-off of one xDS stream (docs/xds-protocol.md "Bursts of subscription
 * changes"): a proxyless gRPC client subscribes to the clusters of a route configuration, then to
 * their endpoints, one name per request, and a state-of-the-world answer to each request repeats
 * every name asked so far, so answering each request at once costs the square of the names. A
 * request that changes a subscription therefore starts (or extends) a short wait for that type;
 * the answer goes out once the requests stop coming for `holdOffMs`, and at the latest
 * `maxDelayMs` after the first of them, carrying the whole burst.
 */

export interface SubscriptionHoldOff {
  /** Quiet time after the latest subscription change of a type before it is answered; 0 answers at once. */
  readonly holdOffMs: number;
  /** Bound on one burst's wait, from its first request. */
  readonly maxDelayMs: number;
}

/**
 * 50 ms: a grpc-js-xds client with hundreds of clusters pauses 20 ms and more inside one burst (it
 * handles each answer's clusters between its requests, and HTTP/2 flow control paces requests
 * that grow to thousands of names); measured in benchmarks/grpc-sync (docs/benchmarks.md), 5 and
 * 20 ms still split a burst of 248 clusters into 22 and 16 answers, 50 ms answers it once.
 * 500 ms bounds the added latency of a burst that never pauses.
 */
export const DEFAULT_SUBSCRIPTION_HOLD_OFF: SubscriptionHoldOff = { holdOffMs: 50, maxDelayMs: 500 };

interface Held {
  /** When the burst's first change came. */
  readonly first: number;
  readonly timer: NodeJS.Timeout;
}

/** The per-kind hold-off timers of one stream; `onDue(key)` runs when a held key may be answered. */
export class HoldOffTimers<K> {
  readonly #held = new Map<K, Held>();

  constructor(
    private readonly settings: SubscriptionHoldOff,
    private readonly onDue: (key: K) => void,
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
    const now = Date.now();
    const held = this.#held.get(key);
    const first = held?.first ?? now;
    const delay = Math.max(0, Math.min(holdOffMs, first + maxDelayMs - now));
    if (held) clearTimeout(held.timer);
    const entry = { first, timer: setTimeout(() => this.#expire(key, entry, delay < holdOffMs), delay) };
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
  }
}
