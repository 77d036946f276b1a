/**
 * The agent's request counter (docs/load-reports.md "With the agent library"): requests per shard in the
 * current epoch-aligned load window; when the window closes, the node's report for it (its
 * hottest MAX_REPORTED_SHARDS shards and its total).
 */
import { MAX_REPORTED_SHARDS, windowStart, type LoadReport } from '../core/load.js';
import { MAX_SHARD_COUNT } from '../core/limits.js';

/**
 * How far the wall clock may step (or drift) against the monotonic clock without a window being
 * left unreported: 1% of the window, at least 10 ms (Date.now() has whole milliseconds, and the
 * two clocks are read a few microseconds apart). Within it a window runs at most that much long.
 */
function clockStepToleranceMs(windowMs: number): number {
  return Math.max(10, windowMs / 100);
}

/**
 * Builds one node's ReportLoad payloads (docs/load-reports.md "Windows"): windows aligned to the
 * epoch, so nodes report the same windows without agreeing on anything else. The wall clock only
 * labels a window; the monotonic clock measures it ("Clock steps"): with the wall clock alone, a
 * step back by X kept counting into the window in progress until the clock reached its end again,
 * so reports stopped for X and then one carried X more of requests, a load spike on this node.
 */
export class LoadCounter {
  readonly #nodeId: string;
  readonly #windowMs: number;
  readonly #shardCount: () => number | undefined;
  readonly #toleranceMs: number;
  /** The window in progress: its label (wall clock) ... */
  #start = 0;
  /** ... and when it ends on the monotonic clock. */
  #endMono = 0;
  /** Whether it is reported when it closes (not when the wall clock went back into time already counted). */
  #reported = true;
  #total = 0;
  #byShard = new Map<number, number>();
  /** Closed windows not yet taken (at most a few: `take` runs once per window). */
  readonly #closed: LoadReport[] = [];
  /** Starts of windows counted but not reported, since the last `takeUnreported`. */
  #unreported: number[] = [];

  /**
   * `shardCount`: S as the node knows it (undefined before it does); shards not below it are not
   * listed. Every `monoMs` is a monotonic clock's reading (performance.now()); by default the wall
   * clock's, for callers whose clock never steps.
   */
  constructor(nodeId: string, windowMs: number, nowMs: number, shardCount: () => number | undefined = () => undefined, monoMs: number = nowMs) {
    if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new TypeError(`load window must be an integer >= 1 ms, got ${windowMs}`);
    this.#nodeId = nodeId;
    this.#windowMs = windowMs;
    this.#shardCount = shardCount;
    this.#toleranceMs = clockStepToleranceMs(windowMs);
    this.#open(nowMs, monoMs, undefined, false);
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
  record(shard: number, n: number, nowMs: number, monoMs: number = nowMs): void {
    this.#roll(nowMs, monoMs);
    this.#total = saturate(this.#total + n);
    if (!Number.isInteger(shard) || shard < 0 || shard >= (this.#shardCount() ?? MAX_SHARD_COUNT)) return;
    this.#byShard.set(shard, saturate((this.#byShard.get(shard) ?? 0) + n));
  }

  /** Reports of the windows closed by `nowMs` and not taken yet, oldest first. */
  take(nowMs: number, monoMs: number = nowMs): LoadReport[] {
    this.#roll(nowMs, monoMs);
    return this.#closed.splice(0);
  }

  /** Starts of the windows left unreported since the last call (the wall clock stepped back), for the log. */
  takeUnreported(): number[] {
    return this.#unreported.splice(0);
  }

  /**
   * Closes the window in progress once the wall clock has left it (forward, as every window ends,
   * or after a step forward) or the monotonic clock has run its length (the wall clock went back),
   * so no window counts more than its length of requests.
   */
  #roll(nowMs: number, monoMs: number): void {
    const byWall = windowStart(nowMs, this.#windowMs) > this.#start;
    if (!byWall && monoMs < this.#endMono) return;
    if (this.#reported) this.#close();
    else if (this.#unreported.length < 4) this.#unreported.push(this.#start);
    this.#open(nowMs, monoMs, Math.min(monoMs, this.#endMono), !byWall);
  }

  /**
   * Starts the window the wall clock is in. `closedMono`: when the previous window ended
   * (monotonic), undefined for the first. `behind`: the previous one ended by the monotonic clock
   * with the wall clock still in it; a wall clock less than the tolerance behind starts the next
   * window, not the end of the same one again.
   */
  #open(nowMs: number, monoMs: number, closedMono: number | undefined, behind: boolean): void {
    const start = windowStart(behind ? nowMs + this.#toleranceMs : nowMs, this.#windowMs);
    // Where this window began on the monotonic clock. Before the previous window's end, the wall
    // clock went back: part of this window's span was counted already, in the previous window, and
    // earlier (before the step) under this very label, so the rest is counted (its requests belong
    // to no other window) but not reported: the node reports the windows after it. A label past
    // the previous one means the clock went forward instead (a step back never lands past it): the
    // span before the step was never this window's, so it is reported from the step on, as after
    // a start, and not logged as a step back.
    const startMono = monoMs - (nowMs - start);
    this.#reported = closedMono === undefined || start > this.#start || startMono >= closedMono - this.#toleranceMs;
    this.#start = start;
    this.#endMono = monoMs + (start + this.#windowMs - nowMs);
    this.#total = 0;
    this.#byShard = new Map();
  }

  /** Queues the report of the window in progress. */
  #close(): void {
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
  }
}

/** Reports carry counts up to 2^53 - 1 (keyway refuses more): a count past it stays there. */
function saturate(n: number): number {
  return Math.min(n, Number.MAX_SAFE_INTEGER);
}
