/**
 * A memo of values shared by streams, per owner object (a kind snapshot) and key, with a bound on
 * what it holds in all (docs/security.md "xDS streams"). The keys come from what clients ask (their
 * subscribed names), and a kind snapshot can stay in force for weeks: without a bound, clients
 * changing their subscriptions (or one asking new names in a loop) would grow it for as long.
 * Past the bound the least recently used values go; a value is only ever rebuilt, never wrong,
 * after that. Each owner's most recently set value is kept outside the bound: streams asking the
 * same of one snapshot (the usual case) share one value per owner, and a storm of reconnects over
 * many classes must not rebuild it per stream (each copy then held by its stream's outbox). What
 * that keeps is one value per live snapshot, as big as what the snapshots already hold. The values
 * of an owner that is collected are dropped with it.
 */

interface Entry<V> {
  readonly map: OwnerMap<V>;
  readonly key: string;
  readonly value: V;
  readonly bytes: number;
}

/** An owner's entries by key, and which one it set last (held outside the bound). */
type OwnerMap<V> = Map<string, Entry<V>> & { latest?: Entry<V> };

/** What one entry costs beyond its key and value's own bytes (the entries, the maps, the object). */
export const MEMO_ENTRY_OVERHEAD_BYTES = 256;

export class OwnedMemo<V> {
  readonly #byOwner = new WeakMap<object, OwnerMap<V>>();
  /** Every entry under the bound (not an owner's latest), least recently used first. */
  readonly #lru = new Set<Entry<V>>();
  #bytes = 0;
  readonly #gone = new FinalizationRegistry<OwnerMap<V>>((map) => {
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
    if (this.#lru.delete(e)) this.#lru.add(e);
    return e.value;
  }

  /**
   * Keeps `value` for `owner` and `key`, costing `bytes` (its key's and value's size), as the
   * owner's latest; the owner's previous latest joins the bounded values, and the least recently
   * used of those go past the bound (one bigger than the bound is not kept there).
   */
  set(owner: object, key: string, value: V, bytes: number): void {
    let map = this.#byOwner.get(owner);
    if (!map) {
      map = new Map() as OwnerMap<V>;
      this.#byOwner.set(owner, map);
      this.#gone.register(owner, map);
    }
    const old = map.get(key);
    if (old) this.#drop(old);
    const previous = map.latest;
    const e: Entry<V> = { map, key, value, bytes: bytes + MEMO_ENTRY_OVERHEAD_BYTES };
    map.set(key, e);
    map.latest = e;
    if (previous && previous !== old) this.#bound(previous);
  }

  /** Entries held under the bound, owners' latest not included (tests, diagnostics). */
  get size(): number {
    return this.#lru.size;
  }

  /** Bytes held under the bound, overhead included (tests, diagnostics). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Puts a former latest under the bound, dropping the least recently used past it. */
  #bound(e: Entry<V>): void {
    if (e.bytes > this.maxBytes) {
      this.#forget(e);
      return;
    }
    this.#lru.add(e);
    this.#bytes += e.bytes;
    while (this.#bytes > this.maxBytes) this.#drop(this.#lru.values().next().value as Entry<V>);
  }

  #drop(e: Entry<V>): void {
    if (this.#lru.delete(e)) this.#bytes -= e.bytes;
    this.#forget(e);
  }

  #forget(e: Entry<V>): void {
    if (e.map.get(e.key) === e) e.map.delete(e.key);
    if (e.map.latest === e) e.map.latest = undefined;
  }
}

/**
 * A memo key naming exactly these strings, in this order: each one length-prefixed. Names are the
 * client's text and may hold any character, so joined with a separator `["a\nb"]` and `["a", "b"]`
 * would share a key, and one client's made-up name would be answered with another's selection.
 */
export function namesKey(names: Iterable<string>): string {
  let key = '';
  for (const n of names) key += `${n.length}:${n}`;
  return key;
}
