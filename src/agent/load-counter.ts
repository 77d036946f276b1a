/**
 * The agent's request counter (docs/load-reports.md "Sending reports"): requests per shard in the
 * current epoch-aligned load window; when the window closes, the node's report for it (its
 * hottest MAX_REPORTED_SHARDS shards and its total).
 */
import { MAX_REPORTED_SHARDS, windowStart, type LoadReport } from '../core/load.js';

/**
 * Builds one node's ReportLoad payloads (docs/load-reports.md "Windows"): windows aligned to the
 * epoch, so nodes report the same windows without agreeing on anything else.
 */
export class LoadCounter {
  readonly #nodeId: string;
  readonly #windowMs: number;
  #start: number;
  #total = 0;
  #byShard = new Map<number, number>();
  /** Closed windows not yet taken (at most a few: `take` runs once per window). */
  readonly #closed: LoadReport[] = [];

  constructor(nodeId: string, windowMs: number, nowMs: number) {
    if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new TypeError(`load window must be an integer >= 1 ms, got ${windowMs}`);
    this.#nodeId = nodeId;
    this.#windowMs = windowMs;
    this.#start = windowStart(nowMs, windowMs);
  }

  get windowMs(): number {
    return this.#windowMs;
  }

  /** Counts `n` requests for `shard` at `nowMs` (in the window holding `nowMs`). */
  record(shard: number, n: number, nowMs: number): void {
    this.#roll(nowMs);
    this.#total += n;
    this.#byShard.set(shard, (this.#byShard.get(shard) ?? 0) + n);
  }

  /** Reports of the windows closed by `nowMs` and not taken yet, oldest first. */
  take(nowMs: number): LoadReport[] {
    this.#roll(nowMs);
    return this.#closed.splice(0);
  }

  #roll(nowMs: number): void {
    const start = windowStart(nowMs, this.#windowMs);
    if (start <= this.#start) return;
    const shards = [...this.#byShard]
      .map(([shard, requests]) => ({ shard, requests }))
      .sort((a, b) => b.requests - a.requests || a.shard - b.shard)
      .slice(0, MAX_REPORTED_SHARDS)
      .sort((a, b) => a.shard - b.shard);
    this.#closed.push({ nodeId: this.#nodeId, windowStartMs: this.#start, windowMs: this.#windowMs, totalRequests: this.#total, shards });
    // Keep only the latest closed windows: a stalled event loop must not pile reports up.
    if (this.#closed.length > 4) this.#closed.splice(0, this.#closed.length - 4);
    // Windows with no request in between close as one: the next report is for the new window.
    this.#start = start;
    this.#total = 0;
    this.#byShard = new Map();
  }
}
