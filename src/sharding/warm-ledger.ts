/**
 * Warm reports heard from cache nodes and not yet used (docs/ownership.md "Two-phase moves"). A
 * report may arrive before this replica has started the transition it completes (another replica
 * saw the change first and told the node), so reports are kept for a while and taken when the
 * transition starts. Owned by one runner; the planner reads it through `take`.
 */

/** Most reports kept: one per (node, shard) at most, and no more than this many in all. */
export const MAX_WARM_REPORTS = 1 << 20;

/**
 * Most reports kept from nodes the map does not list (yet): a report may come before this replica
 * knows its node, but a client chooses its node id, and new ids must not crowd out the reports of
 * the map's own nodes.
 */
export const MAX_UNLISTED_WARM_REPORTS = 1 << 16;

/**
 * Holds ReportWarm reports until a transition takes them (docs/ownership.md "ReportWarm"), bounded
 * by MAX_WARM_REPORTS since nodes may report shards no transition will ever use.
 */
export class WarmLedger {
  // node -> shard -> epoch ms of the latest report
  readonly #reports = new Map<string, Map<number, number>>();
  #size = 0;
  /** Nodes recorded while the map did not list them, and how many of their reports are held. */
  readonly #unlisted = new Set<string>();
  #unlistedSize = 0;
  /** Reports removed since `checkpoint`, to put back on `rollback`; undefined when none is open. */
  #journal: { readonly node: string; readonly shard: number; readonly at: number; readonly listed: boolean }[] | undefined;

  /**
   * Records that `node` holds `shards` warm at `at`. Returns how many were recorded: reports beyond
   * MAX_WARM_REPORTS, or from a node the map does not list (`listed` false) beyond
   * MAX_UNLISTED_WARM_REPORTS, are dropped (the transition then ends at its deadline instead).
   */
  record(node: string, shards: readonly number[], at: number, listed = true): number {
    const unlisted = !listed;
    let byShard = this.#reports.get(node);
    // Classed by what the map says now, not when the node's first held report came: a node that
    // reports while the map starts listing it would otherwise stay in the unlisted budget for as
    // long as it keeps reporting, and a flood of invented ids would drop its reports for good.
    if (byShard && unlisted !== this.#unlisted.has(node)) {
      if (unlisted) this.#unlisted.add(node);
      else this.#unlisted.delete(node);
      this.#unlistedSize += unlisted ? byShard.size : -byShard.size;
    }
    let recorded = 0;
    for (const shard of shards) {
      if (!byShard?.has(shard)) {
        if (this.#size >= MAX_WARM_REPORTS || (unlisted && this.#unlistedSize >= MAX_UNLISTED_WARM_REPORTS)) continue;
        // A node gets an entry only with a report in it: only #remove deletes entries, so an empty
        // one (a report of no shards, or of shards all dropped) would be held for good, one per id.
        if (!byShard) {
          this.#reports.set(node, (byShard = new Map()));
          if (unlisted) this.#unlisted.add(node);
        }
        this.#size++;
        if (unlisted) this.#unlistedSize++;
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
    this.#remove(node, byShard!, shard);
    return at >= since;
  }

  /**
   * Forgets `node`'s report of `shard`: its transition ended without it (cancelled, owner or agent
   * lost), and the node dropped that warm-up with the assignment, so the report must not complete
   * a later move of the shard to the node.
   */
  forget(node: string, shard: number): void {
    const byShard = this.#reports.get(node);
    if (byShard?.has(shard)) this.#remove(node, byShard, shard);
  }

  /**
   * Forgets every report of `node`: the node's ownership stream that followed them ended, or it
   * opened a new one (docs/ownership.md "Two-phase moves"). Its agent may have restarted with an
   * empty cache since it reported; a node that still holds the shards warm reports them again on
   * its new stream. Returns how many were forgotten.
   */
  forgetNode(node: string): number {
    const byShard = this.#reports.get(node);
    if (!byShard) return 0;
    const shards = [...byShard.keys()];
    for (const shard of shards) this.#remove(node, byShard, shard);
    return shards.length;
  }

  /**
   * Forgets every report: the shard count changed, so a shard number names other keys now and no
   * report heard so far is of a shard the new map has (through #remove: a rollback puts them back).
   */
  clear(): void {
    for (const [node, byShard] of [...this.#reports]) for (const shard of [...byShard.keys()]) this.#remove(node, byShard, shard);
  }

  /**
   * Moves every report's time by `ms`: the caller's clock stepped (docs/ownership.md "Clock steps"),
   * and a report keeps its age on the clock the transitions it is compared with now run on.
   */
  shift(ms: number): void {
    for (const byShard of this.#reports.values()) for (const [shard, at] of byShard) byShard.set(shard, at + ms);
    if (this.#journal) this.#journal = this.#journal.map((r) => ({ ...r, at: r.at + ms }));
  }

  /** When the oldest report held came (epoch ms), or undefined when none is held. */
  oldest(): number | undefined {
    let oldest: number | undefined;
    for (const byShard of this.#reports.values()) for (const at of byShard.values()) if (oldest === undefined || at < oldest) oldest = at;
    return oldest;
  }

  /** Forgets reports older than `before`. */
  prune(before: number): void {
    for (const [node, byShard] of this.#reports) {
      for (const [shard, at] of byShard) if (at < before) this.#remove(node, byShard, shard);
    }
  }

  /**
   * Starts remembering the reports a planning step takes or forgets, so a step that is then
   * discarded (its publish threw) can put them back: otherwise the moves it would have flipped
   * lose their warm reports and wait here for their deadline, while other replicas flip them.
   */
  checkpoint(): void {
    this.#journal = [];
  }

  /** Keeps what the step since `checkpoint` took: it was published. */
  commit(): void {
    this.#journal = undefined;
  }

  /** Puts back the reports taken or forgotten since `checkpoint` (newer reports of a pair are kept). */
  rollback(): void {
    const journal = this.#journal ?? [];
    this.#journal = undefined;
    for (const r of journal.reverse()) {
      if (!this.has(r.node, r.shard, -Infinity)) this.record(r.node, [r.shard], r.at, r.listed);
    }
  }

  /** Drops one held report, and its node's entry once it holds none. */
  #remove(node: string, byShard: Map<number, number>, shard: number): void {
    this.#journal?.push({ node, shard, at: byShard.get(shard)!, listed: !this.#unlisted.has(node) });
    byShard.delete(shard);
    this.#size--;
    if (this.#unlisted.has(node)) this.#unlistedSize--;
    if (byShard.size === 0) {
      this.#reports.delete(node);
      this.#unlisted.delete(node);
    }
  }

  get size(): number {
    return this.#size;
  }

  /** Nodes with reports held (each entry holds at least one). */
  get nodes(): number {
    return this.#reports.size;
  }
}
