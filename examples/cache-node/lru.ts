/**
 * A bounded least-recently-used map: the cache node's L1 (GPU memory) and L2 (node RAM) tiers.
 * A JavaScript Map keeps insertion order, so re-inserting on access makes its first key the least
 * recently used one; eviction removes it. Both operations are O(1).
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly capacity: number;
  #evictions = 0;

  /** @throws RangeError unless capacity is an integer >= 0 (0 caches nothing). */
  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`LRU capacity must be an integer >= 0, got ${capacity}`);
    this.capacity = capacity;
  }

  /** The value, marking the key most recently used; undefined on a miss. */
  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /** Checks for the key without touching recency. */
  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** Inserts or refreshes the key as most recently used, evicting the least recently used beyond capacity. */
  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value as K;
      this.#entries.delete(oldest);
      this.#evictions++;
    }
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
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

  /** Entries from most to least recently used, without touching recency (what a warm-up copies first). */
  *newestFirst(): Generator<[K, V]> {
    const all = [...this.#entries];
    for (let i = all.length - 1; i >= 0; i--) yield all[i]!;
  }
}
