/**
 * Warm reports heard from cache nodes and not yet used (docs/ownership.md "Two-phase moves"). A
 * report may arrive before this replica has started the transition it completes (another replica
 * saw the change first and told the node), so reports are kept for a while and taken when the
 * transition starts. Owned by one runner; the planner reads it through `take`.
 */

/** Most reports kept: one per (node, shard) at most, and no more than this many in all. */
export const MAX_WARM_REPORTS = 1 << 20;

/**
 * Holds ReportWarm reports until a transition takes them (docs/ownership.md "ReportWarm"), bounded
 * by MAX_WARM_REPORTS since nodes may report shards no transition will ever use.
 */
export class WarmLedger {
  // node -> shard -> epoch ms of the latest report
  readonly #reports = new Map<string, Map<number, number>>();
  #size = 0;

  /**
   * Records that `node` holds `shards` warm at `at`. Returns how many were recorded: reports beyond
   * MAX_WARM_REPORTS are dropped (the transition then ends at its deadline instead).
   */
  record(node: string, shards: readonly number[], at: number): number {
    let byShard = this.#reports.get(node);
    if (!byShard) this.#reports.set(node, (byShard = new Map()));
    let recorded = 0;
    for (const shard of shards) {
      if (!byShard.has(shard)) {
        if (this.#size >= MAX_WARM_REPORTS) continue;
        this.#size++;
      }
      byShard.set(shard, at);
      recorded++;
    }
    return recorded;
  }

  /** True when `node` reported `shard` warm at or after `since`; the report stays. */
  has(node: string, shard: number, since: number): boolean {
    const at = this.#reports.get(node)?.get(shard);
    return at !== undefined && at >= since;
  }

  /** True when `node` reported `shard` warm at or after `since`; the report is used up. */
  take(node: string, shard: number, since: number): boolean {
    const byShard = this.#reports.get(node);
    const at = byShard?.get(shard);
    if (at === undefined) return false;
    byShard!.delete(shard);
    this.#size--;
    return at >= since;
  }

  /**
   * Forgets `node`'s report of `shard`: its transition ended without it (cancelled, owner or agent
   * lost), and the node dropped that warm-up with the assignment, so the report must not complete
   * a later move of the shard to the node.
   */
  forget(node: string, shard: number): void {
    const byShard = this.#reports.get(node);
    if (!byShard?.delete(shard)) return;
    this.#size--;
    if (byShard.size === 0) this.#reports.delete(node);
  }

  /** Forgets reports older than `before`. */
  prune(before: number): void {
    for (const [node, byShard] of this.#reports) {
      for (const [shard, at] of byShard) {
        if (at < before) {
          byShard.delete(shard);
          this.#size--;
        }
      }
      if (byShard.size === 0) this.#reports.delete(node);
    }
  }

  get size(): number {
    return this.#size;
  }
}
