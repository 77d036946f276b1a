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

/** Every field of an endpoint a resource is built from (id, address, port, weight, locality), as a key part. */
export function endpointKey(e: Endpoint): string {
  return `${e.id}\0${e.address}\0${e.port}\0${e.weight}\0${e.locality.region}\0${e.locality.zone}\0${e.locality.subzone}`;
}
