/**
 * Immutable, consistent snapshots of one proxy class's resources (docs/xds-protocol.md "Snapshots and versions").
 */
import { KeywayError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import { KIND_ORDER, proxyClassKey, resourcesOf, type ProxyClass, type ResourceKind, type ResourceSet } from '../resources.js';
import type { ConsistencyCheck } from './consistency.js';
import type { EncodedResource, ResourceEncoder } from './encoder.js';
import { kindVersion } from './version.js';

/** One kind of a snapshot: its content version and its resources by name, in name order. */
export interface KindSnapshot {
  /** Hash of the sorted (name, resource version) pairs: the xDS version_info of this kind. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, EncodedResource>;
}

/** Everything one proxy class is served, consistent as a whole. */
export interface Snapshot {
  readonly proxyClass: ProxyClass;
  /** proxyClassKey(proxyClass). */
  readonly classKey: string;
  readonly kinds: Readonly<Record<ResourceKind, KindSnapshot>>;
  /** Hash of the kind versions, for logs and status pages. */
  readonly version: string;
}

/**
 * Encodes `set` into a snapshot for `proxyClass`. Throws KeywayError SNAPSHOT_INCONSISTENT, listing
 * every problem `check` found, when the set references names it does not define.
 */
export function buildSnapshot(
  proxyClass: ProxyClass,
  set: ResourceSet,
  encoder: ResourceEncoder,
  check: ConsistencyCheck,
): Snapshot {
  const problems = check(set);
  if (problems.length > 0) throw inconsistentSnapshot(proxyClass, problems);
  const kinds = {} as Record<ResourceKind, KindSnapshot>;
  for (const kind of KIND_ORDER) {
    const encoded = resourcesOf(set, kind).map((r) => encoder.encode(kind, r));
    encoded.sort((a, b) => compareStrings(a.name, b.name));
    const resources = new Map(encoded.map((r) => [r.name, r] as const));
    kinds[kind] = Object.freeze({ version: kindVersion(encoded.map((r) => [r.name, r.version] as const)), resources });
  }
  return Object.freeze({
    proxyClass,
    classKey: proxyClassKey(proxyClass),
    kinds: Object.freeze(kinds),
    version: kindVersion(KIND_ORDER.map((k) => [k, kinds[k].version] as const)),
  });
}

/** The error of a set refused for `proxyClass`: KeywayError SNAPSHOT_INCONSISTENT listing `problems`. */
export function inconsistentSnapshot(proxyClass: ProxyClass, problems: readonly string[]): KeywayError {
  const key = proxyClassKey(proxyClass);
  return new KeywayError('SNAPSHOT_INCONSISTENT', `snapshot for proxy class ${key} rejected: ${problems.join('; ')}`, { field: `snapshot[${key}]` });
}

/** The kinds whose version differs between two snapshots of one class (all kinds when `before` is undefined). */
export function changedKinds(before: Snapshot | undefined, after: Snapshot): ResourceKind[] {
  return KIND_ORDER.filter((k) => before?.kinds[k].version !== after.kinds[k].version);
}
