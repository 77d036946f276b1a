/**
 * A node's serving capacity, simulated: what a GPU's inference rate is to a real cache node.
 * Requests are served one after another in arrival order, each taking 1/rps seconds of the node's
 * time (a single-server queue with a fixed service time), so a node sent more than `rps` requests a
 * second queues them, as a saturated GPU does, and a fleet's throughput is set by its busiest node.
 * A request may cost several service times: a miss that makes the GPU load or recompute its data
 * (an LLM's prefill for a prefix cache miss) costs more of it than a hit.
 * The hot-shard benchmark's capacity mode runs the nodes with it (docs/benchmarks.md "Hot shards").
 */
import { setTimeout as sleep } from 'node:timers/promises';

export class ServingCapacity {
  /** performance.now() at which the node's last queued request is done. */
  #busyUntil = 0;

  constructor(readonly rps: number) {
    if (!Number.isFinite(rps) || rps <= 0) throw new RangeError(`serving capacity must be a positive number of requests per second, got ${rps}`);
  }

  /** Resolves when this request's turn ends: `units` service times after every request queued before it. */
  async serve(units = 1): Promise<void> {
    const now = performance.now();
    // Absolute times, not one sleep per request: timer lateness does not lower the rate.
    const until = (this.#busyUntil = Math.max(now, this.#busyUntil) + (units * 1000) / this.rps);
    // Node's timers count whole milliseconds of a loop clock read before this call, so one can end
    // up to a millisecond early: sleep again for what is left, so no request ends before its turn.
    for (let left = until - now; left > 0; left = until - performance.now()) await sleep(left);
  }
}
