/**
 * A memo of values shared by streams, per owner object (a kind snapshot) and key, with a bound on
 * what it holds in all (docs/security.md "xDS streams"). The keys come from what clients ask (their
 * subscribed names), and a kind snapshot can stay in force for weeks: without a bound, clients
 * changing their subscriptions (or one asking new names in a loop) would grow it for as long.
 * Past the bound the least recently used values go; a value is only ever rebuilt, never wrong,
 * after that. The values of an owner that is collected are dropped with it.
 */

interface Entry<V> {
  readonly map: Map<string, Entry<V>>;
  readonly key: string;
  readonly value: V;
  readonly bytes: number;
}

/** What one entry costs beyond its key and value's own bytes (the entries, the maps, the object). */
export const MEMO_ENTRY_OVERHEAD_BYTES = 256;

export class OwnedMemo<V> {
  readonly #byOwner = new WeakMap<object, Map<string, Entry<V>>>();
  /** Every entry, least recently used first. */
  readonly #lru = new Set<Entry<V>>();
  #bytes = 0;
  readonly #gone = new FinalizationRegistry<Map<string, Entry<V>>>((map) => {
    for (const e of map.values()) this.#drop(e);
  });

  constructor(
    /** Bound on the bytes held in all (each entry counts its `bytes` plus MEMO_ENTRY_OVERHEAD_BYTES). */
    readonly maxBytes: number,
  ) {}

  /** The value of `owner` and `key`, if held (it becomes the most recently used). */
  get(owner: object, key: string): V | undefined {
    const e = this.#byOwner.get(owner)?.get(key);
    if (!e) return undefined;
    this.#lru.delete(e);
    this.#lru.add(e);
    return e.value;
  }

  /**
   * Keeps `value` for `owner` and `key`, costing `bytes` (its key's and value's size), and drops
   * the least recently used values past the bound. A value bigger than the bound is not kept.
   */
  set(owner: object, key: string, value: V, bytes: number): void {
    let map = this.#byOwner.get(owner);
    const old = map?.get(key);
    if (old) this.#drop(old);
    const cost = bytes + MEMO_ENTRY_OVERHEAD_BYTES;
    if (cost > this.maxBytes) return;
    if (!map) {
      map = new Map();
      this.#byOwner.set(owner, map);
      this.#gone.register(owner, map);
    }
    const e: Entry<V> = { map, key, value, bytes: cost };
    map.set(key, e);
    this.#lru.add(e);
    this.#bytes += cost;
    while (this.#bytes > this.maxBytes) this.#drop(this.#lru.values().next().value as Entry<V>);
  }

  /** Entries held (tests, diagnostics). */
  get size(): number {
    return this.#lru.size;
  }

  /** Bytes held, overhead included (tests, diagnostics). */
  get bytes(): number {
    return this.#bytes;
  }

  #drop(e: Entry<V>): void {
    if (!this.#lru.delete(e)) return;
    this.#bytes -= e.bytes;
    if (e.map.get(e.key) === e) e.map.delete(e.key);
  }
}
