/**
 * What a delta stream's proxy holds of one type, by keyway's account: each resource's version
 * (delta xDS, docs/xds-protocol.md "Delta (incremental)": a resource is sent when its version
 * differs from the one the proxy holds).
 *
 * After every push the proxy holds exactly a set of keyway's encodings (the kind snapshot's map for
 * a wildcard, the shared map of its subscription otherwise), so that map is the account, shared,
 * not a map of names and versions per stream: an ownership agent's stream held one entry per
 * assignment it was sent (S x R in all over the fleet) beside the snapshot's own map of the same.
 * A stream gets a map of its own only while it holds something else: versions from
 * initial_resource_versions, or names dropped from its subscription until the next push.
 */
import type { EncodedResource } from '../cache/index.js';

const NOTHING: ReadonlyMap<string, EncodedResource> = new Map();

/** One delta stream's account of one type: what the xDS protocol's per-resource versions are compared with. */
export class HeldVersions {
  /** The shared map the proxy holds exactly, while `#own` is undefined. */
  #base: ReadonlyMap<string, EncodedResource> = NOTHING;
  /** This stream's own account (name to version), once it differs from a shared map. */
  #own: Map<string, string> | undefined;

  get(name: string): string | undefined {
    return this.#own ? this.#own.get(name) : this.#base.get(name)?.version;
  }

  has(name: string): boolean {
    return (this.#own ?? this.#base).has(name);
  }

  get size(): number {
    return (this.#own ?? this.#base).size;
  }

  /** The names held; a copy, so the caller may change the account while it walks them. */
  names(): string[] {
    return [...(this.#own ?? this.#base).keys()];
  }

  set(name: string, version: string): void {
    this.#mine().set(name, version);
  }

  delete(name: string): boolean {
    if (!this.has(name)) return false;
    return this.#mine().delete(name);
  }

  /**
   * The proxy now holds exactly `held` (after a push: every resource of the snapshot it subscribes
   * to, at the snapshot's version). Shared with the snapshot or the subscription; never changed.
   */
  holdExactly(held: ReadonlyMap<string, EncodedResource>): void {
    this.#base = held;
    this.#own = undefined;
  }

  /** Is the account a shared map (no entry of this stream's own)? For tests. */
  get shared(): boolean {
    return this.#own === undefined;
  }

  #mine(): Map<string, string> {
    if (!this.#own) {
      this.#own = new Map();
      for (const [name, r] of this.#base) this.#own.set(name, r.version);
    }
    return this.#own;
  }
}
