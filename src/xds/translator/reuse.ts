/**
 * What the previous translation made, kept for the next one (docs/xds-protocol.md "Unchanged
 * resources cost nothing": the snapshot cache neither serializes nor hashes a message object it has
 * seen). A map change leaves most of a large fleet's resources as they were; handing back the same
 * objects makes its cost follow what changed.
 */
import type { Endpoint } from '../../core/endpoint.js';

/**
 * Values by a key that must determine their content entirely, so a value found is what a fresh
 * build would give. Only the last translation's values are kept: a key that the next translation
 * does not ask for is forgotten.
 */
export class PreviousTranslation<V> {
  #previous = new Map<string, V>();
  #current = new Map<string, V>();

  /** The value made for `key` by the previous translation (or this one), else `make()`'s. */
  get(key: string, make: () => V): V {
    let value = this.#current.get(key) ?? this.#previous.get(key);
    if (value === undefined) value = make();
    this.#current.set(key, value);
    return value;
  }

  /** Ends a translation: what it asked for is what the next one may reuse. */
  done(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }
}

/**
 * The same for one value per shard, where comparing one key part is cheaper than a string key
 * (a table or route list has one entry per shard): the previous translation's value for `shard` is
 * handed back when it was made for the same `key` (compared with ===), which with the rest of the
 * shard's position must determine the value.
 */
export class PreviousByShard<K, V> {
  #previous: ({ readonly key: K; readonly value: V } | undefined)[] = [];
  #current: ({ readonly key: K; readonly value: V } | undefined)[] = [];

  /** The value made for `shard` and `key` by the previous translation, else `make()`'s. */
  get(shard: number, key: K, make: () => V): V {
    const last = this.#previous[shard];
    const value = last !== undefined && last.key === key ? last.value : make();
    this.#current[shard] = { key, value };
    return value;
  }

  /** Ends a translation, as PreviousTranslation.done. */
  done(): void {
    this.#previous = this.#current;
    this.#current = [];
  }
}

/**
 * Every field of an endpoint a resource is built from (id, address, port, weight, locality), as a
 * key part that delimits itself: locality strings are free text (a NUL included), so each string
 * is prefixed by its length; joined with a separator, `za\0b` + `c` and `za` + `b\0c` were one key.
 */
export function endpointKey(e: Endpoint): string {
  const { region, zone, subzone } = e.locality;
  return `${e.id.length}:${e.id}${e.address.length}:${e.address}${e.port}\0${e.weight}\0${region.length}:${region}${zone.length}:${zone}${subzone.length}:${subzone}`;
}

/** A proxy's place (zone, fabric) as a key: free text too, so length-prefixed like endpointKey. */
export function placeKey(zone: string, subzone: string): string {
  return `${zone.length}:${zone}${subzone}`;
}
