/**
 * The agent's request counter (docs/load-reports.md "Sending reports"): requests per shard in the
 * current epoch-aligned load window; when the window closes, the node's report for it (its
 * hottest MAX_REPORTED_SHARDS shards and its total).
 */
import { MAX_REPORTED_SHARDS, windowStart, type LoadReport } from '../core/load.js';
import { MAX_SHARD_COUNT } from '../core/limits.js';

/**
 * Builds one node's ReportLoad payloads (docs/load-reports.md "Windows"): windows aligned to the
 * epoch, so nodes report the same windows without agreeing on anything else.
 */
export class LoadCounter {
  readonly #nodeId: string;
  readonly #windowMs: number;
  readonly #shardCount: () => number | undefined;
  #start: number;
  #total = 0;
  #byShard = new Map<number, number>();
  /** Closed windows not yet taken (at most a few: `take` runs once per window). */
  readonly #closed: LoadReport[] = [];

  /** `shardCount`: S as the node knows it (undefined before it does); shards not below it are not listed. */
  constructor(nodeId: string, windowMs: number, nowMs: number, shardCount: () => number | undefined = () => undefined) {
    if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new TypeError(`load window must be an integer >= 1 ms, got ${windowMs}`);
    this.#nodeId = nodeId;
    this.#windowMs = windowMs;
    this.#shardCount = shardCount;
    this.#start = windowStart(nowMs, windowMs);
  }

  get windowMs(): number {
    return this.#windowMs;
  }

  /**
   * Counts `n` requests for `shard` at `nowMs` (in the window holding `nowMs`). A request for what
   * is not a shard (not an integer in [0, S), S the largest keyway accepts while the node does not
   * know its own) counts in the total only: keyway refuses a whole report that lists one, and
   * listing any number a caller passes would let the map grow without bound.
   */
  record(shard: number, n: number, nowMs: number): void {
    this.#roll(nowMs);
    this.#total = saturate(this.#total + n);
    if (!Number.isInteger(shard) || shard < 0 || shard >= (this.#shardCount() ?? MAX_SHARD_COUNT)) return;
    this.#byShard.set(shard, saturate((this.#byShard.get(shard) ?? 0) + n));
  }

  /** Reports of the windows closed by `nowMs` and not taken yet, oldest first. */
  take(nowMs: number): LoadReport[] {
    this.#roll(nowMs);
    return this.#closed.splice(0);
  }

  #roll(nowMs: number): void {
    const start = windowStart(nowMs, this.#windowMs);
    if (start <= this.#start) return;
    // S may have shrunk since a shard was counted: keyway would refuse the report over it.
    const limit = this.#shardCount() ?? MAX_SHARD_COUNT;
    const shards = [...this.#byShard]
      .filter(([shard]) => shard < limit)
      .map(([shard, requests]) => ({ shard, requests }))
      .sort((a, b) => b.requests - a.requests || a.shard - b.shard)
      .slice(0, MAX_REPORTED_SHARDS);
    // Only counts at the 2^53 - 1 cap can list more than the total: drop the coldest until they fit.
    let listed = shards.reduce((sum, s) => sum + s.requests, 0);
    while (listed > this.#total) listed -= shards.pop()!.requests;
    shards.sort((a, b) => a.shard - b.shard);
    this.#closed.push({ nodeId: this.#nodeId, windowStartMs: this.#start, windowMs: this.#windowMs, totalRequests: this.#total, shards });
    // Keep only the latest closed windows: a stalled event loop must not pile reports up.
    if (this.#closed.length > 4) this.#closed.splice(0, this.#closed.length - 4);
    // Windows with no request in between close as one: the next report is for the new window.
    this.#start = start;
    this.#total = 0;
    this.#byShard = new Map();
  }
}

/** Reports carry counts up to 2^53 - 1 (keyway refuses more): a count past it stays there. */
function saturate(n: number): number {
  return Math.min(n, Number.MAX_SAFE_INTEGER);
}
