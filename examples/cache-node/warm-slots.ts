/**
 * A bound on the warm-ups a node runs at once. The agent calls the node's warm-up for every shard
 * entering WARMING at the same moment (docs/ownership.md "Warming"), and a node joining a fleet at
 * S = 16384 gains some 2000 shards: each asked its peer for `/v1/warm` on its own connection, the
 * peer scanned its whole L1 once per request, and the requests queued past the 5 s fetch timeout
 * failed, so their shards were reported warm with nothing copied (868 of 2048 with L1 = 10 000).
 */

/** Warm-ups a node runs at once unless told otherwise. */
export const DEFAULT_WARM_CONCURRENCY = 8;

export class WarmSlots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  /** @throws RangeError unless `size` is an integer >= 1 */
  constructor(readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`warm-up concurrency must be an integer >= 1, got ${size}`);
    this.#free = size;
  }

  /**
   * Runs `task` once a slot is free, in arrival order.
   * @throws the abort reason when `signal` aborts while the task waits for its slot
   */
  async run<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    if (this.#free > 0) this.#free--;
    else await this.#wait(signal);
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }

  /** Resolves when a finishing task hands its slot over; a waiter that aborts leaves the queue. */
  #wait(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const granted = (): void => {
        signal.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = (): void => {
        const at = this.#waiting.indexOf(granted);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal.reason);
      };
      this.#waiting.push(granted);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }
}
