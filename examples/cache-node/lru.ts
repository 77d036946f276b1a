/**
 * A bounded least-recently-used map: the cache node's L1 (GPU memory) and L2 (node RAM) tiers.
 * A JavaScript Map keeps insertion order, so re-inserting on access makes its first key the least
 * recently used one; eviction removes it. Both operations are O(1). Each entry remembers when it
 * was last used, so a warm-up can hand entries over with their age and the receiving node can
 * file them among its own by recency (`insertByIdle`).
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, { value: V; usedAt: number }>();
  readonly #now: () => number;
  readonly #onRemove: ((key: K) => void) | undefined;
  readonly capacity: number;
  #evictions = 0;

  /**
   * @param now the clock of last use, in ms (monotonic by default; ages, never instants, leave the node)
   * @param onRemove told of each key that leaves, evicted or deleted (what the owner keeps beside the entries)
   * @throws RangeError unless capacity is an integer >= 0 (0 caches nothing).
   */
  constructor(capacity: number, now: () => number = () => performance.now(), onRemove?: (key: K) => void) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`LRU capacity must be an integer >= 0, got ${capacity}`);
    this.capacity = capacity;
    this.#now = now;
    this.#onRemove = onRemove;
  }

  /** The value, marking the key most recently used; undefined on a miss. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    entry.usedAt = this.#now();
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Checks for the key without touching recency. */
  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** Inserts or refreshes the key as most recently used, evicting the least recently used beyond capacity. */
  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, usedAt: this.#now() });
    this.#evictBeyondCapacity();
  }

  /**
   * Inserts entries used `idleMs` ago elsewhere (a warm-up's answer) where their last use puts
   * them among this cache's own entries, then evicts the least recently used beyond capacity.
   * A key already held keeps its own value and recency; entries of equal age keep their given
   * order, the last one most recent (so an answer without ages, given least recent first and all
   * idle 0, lands at the most recent end in its order). Why not always at the most recent end: a
   * handed-off shard's cold entries would push out entries this node uses more often (on the
   * hot-shard benchmark's model, a quarter of the L1 hits each hot-shard move cost;
   * docs/benchmarks.md "Warm-ups filed by recency"). O(size + n log n).
   * @returns how many of the entries the cache holds afterwards
   */
  insertByIdle(entries: Iterable<readonly [K, V, number]>): number {
    if (this.capacity === 0) return 0;
    const now = this.#now();
    const incoming: Array<[K, { value: V; usedAt: number }]> = [];
    const seen = new Set<K>();
    for (const [key, value, idleMs] of entries) {
      if (this.#entries.has(key) || seen.has(key)) continue;
      seen.add(key);
      incoming.push([key, { value, usedAt: now - Math.max(0, idleMs) }]);
    }
    if (incoming.length === 0) return 0;
    incoming.sort((a, b) => a[1].usedAt - b[1].usedAt); // stable
    const own = [...this.#entries];
    this.#entries.clear();
    let i = 0;
    let j = 0;
    while (i < own.length || j < incoming.length) {
      const takeOwn = j >= incoming.length || (i < own.length && own[i]![1].usedAt <= incoming[j]![1].usedAt);
      const [key, entry] = takeOwn ? own[i++]! : incoming[j++]!;
      this.#entries.set(key, entry);
    }
    this.#evictBeyondCapacity();
    return incoming.filter(([key]) => this.#entries.has(key)).length;
  }

  delete(key: K): boolean {
    const had = this.#entries.delete(key);
    if (had) this.#onRemove?.(key);
    return had;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Entries evicted for capacity since creation. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Keys from least to most recently used. */
  keys(): K[] {
    return [...this.#entries.keys()];
  }

  /**
   * Entries from most to least recently used with how long ago each was used (ms), without
   * touching recency (what a warm-up copies first).
   */
  *newestFirst(): Generator<[K, V, number]> {
    const all = [...this.#entries];
    const now = this.#now();
    for (let i = all.length - 1; i >= 0; i--) yield [all[i]![0], all[i]![1].value, Math.max(0, now - all[i]![1].usedAt)];
  }

  #evictBeyondCapacity(): void {
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value as K;
      this.#entries.delete(oldest);
      this.#evictions++;
      this.#onRemove?.(oldest);
    }
  }
}
