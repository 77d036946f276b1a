/**
 * The route configuration names open streams subscribe to over RDS (SotW or delta), counted across
 * streams: what keeps a former route name served (docs/xds.md "A renamed service"). Each stream adds
 * a name as it subscribes and removes it as it unsubscribes or closes, so the work is that of the
 * subscription change itself, never a pass over the streams. When a name's last subscriber lets go,
 * `onReleased` is told (XdsServerEvents.routeReleased); `has` answers whether any stream asks for it now.
 */
export class RouteSubscriptions {
  /** Subscribing streams per name; a name none subscribes to has no entry (the map is bounded by the open subscriptions). */
  readonly #count = new Map<string, number>();
  readonly #onReleased: ((name: string) => void) | undefined;

  constructor(onReleased?: (name: string) => void) {
    this.#onReleased = onReleased;
  }

  /** One more stream subscribes to `name`. */
  add(name: string): void {
    this.#count.set(name, (this.#count.get(name) ?? 0) + 1);
  }

  /** A stream that subscribed to `name` no longer does (unsubscribed, or closed). */
  remove(name: string): void {
    const n = this.#count.get(name);
    if (n === undefined) return;
    if (n > 1) return void this.#count.set(name, n - 1);
    this.#count.delete(name);
    this.#onReleased?.(name);
  }

  /** Does an open stream subscribe to `name`? O(1). */
  has(name: string): boolean {
    return this.#count.has(name);
  }

  /** How many names are subscribed to (tests). */
  get size(): number {
    return this.#count.size;
  }
}
