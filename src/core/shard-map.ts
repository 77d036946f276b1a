/** Shapes of the sharding stage's output (docs/architecture.md "The pipeline", sharding). */
import type { Endpoint } from './endpoint.js';
import type { ShardingPolicy } from './policy.js';

/**
 * The full assignment of shards to owners. Immutable. `version` derives from content only, so
 * the same endpoints in any order give the same version in any process.
 */
export interface ShardMap {
  readonly version: string;
  readonly policy: ShardingPolicy;
  /** Every known endpoint, ready or not, sorted by id. */
  readonly endpoints: readonly Endpoint[];
  /** owners[shard]: endpoint ids, primary first. Fewer than R when fewer eligible endpoints exist. */
  readonly owners: readonly (readonly string[])[];
  /** Human-readable conditions worth a log line (fewer eligible endpoints than R, none at all). */
  readonly warnings: readonly string[];
  /**
   * Hot shards served by more than one owner at once (docs/hot-shards.md): shard -> how many of
   * its first owners share its requests (> 1; weighted by endpoint weight). Absent or missing a
   * shard: the primary alone serves it. Part of the version (applyHotShards derives a new one).
   */
  readonly readers?: ReadonlyMap<number, number>;
}

/** How many of a shard's owners serve its requests at once: `readers` clamped to its owner count, >= 1. */
export function shardReaders(map: Pick<ShardMap, 'owners' | 'readers'>, shard: number): number {
  const k = map.readers?.get(shard) ?? 1;
  const n = map.owners[shard]?.length ?? 0;
  return Math.max(1, Math.min(k, n));
}

/** One shard whose owner list changed between two maps. */
export interface ShardMove {
  readonly shard: number;
  readonly from: readonly string[];
  readonly to: readonly string[];
  /** Readers before and after (docs/hot-shards.md), present when either map spreads the shard. */
  readonly fromReaders?: number;
  readonly toReaders?: number;
}

export interface ShardMapDiff {
  readonly fromVersion: string;
  readonly toVersion: string;
  /** Sorted by shard. */
  readonly moves: readonly ShardMove[];
}

/** One endpoint's change, for the incremental update. `upsert` covers add, reweight, ready flip and move. */
export type EndpointChange =
  | { readonly kind: 'upsert'; readonly endpoint: Endpoint }
  | { readonly kind: 'remove'; readonly id: string };

const idsOfMap = new WeakMap<ShardMap, ReadonlySet<string>>();

/**
 * The endpoint ids of `map`, built once per map: what reports from cache nodes are checked
 * against (a client chooses its node id; docs/load-reports.md, docs/ownership.md).
 */
export function endpointIds(map: ShardMap): ReadonlySet<string> {
  let ids = idsOfMap.get(map);
  if (!ids) idsOfMap.set(map, (ids = new Set(map.endpoints.map((e) => e.id))));
  return ids;
}
