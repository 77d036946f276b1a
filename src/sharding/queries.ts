/** Read-only questions about shard maps: one shard's owners, each endpoint's share, what moved. */
import { KeywayError } from '../core/errors.js';
import { type ShardMap, type ShardMapDiff, type ShardMove, shardReaders } from '../core/shard-map.js';

/**
 * Owners of `shard`, primary first (the REST `/v1/shards/{shard}` contract). Throws BAD_ARGUMENT
 * for a non-integer shard and NOT_FOUND for one outside [0, S).
 */
export function ownersOf(map: ShardMap, shard: number): readonly string[] {
  if (!Number.isSafeInteger(shard)) {
    throw new KeywayError('BAD_ARGUMENT', `shard must be an integer, got ${String(shard)}`, { field: 'shard' });
  }
  const owners = map.owners[shard];
  if (shard < 0 || owners === undefined) {
    throw new KeywayError('NOT_FOUND', `shard ${shard} does not exist: shards are 0..${map.owners.length - 1}`, {
      field: 'shard',
    });
  }
  return owners;
}

function sameOwners(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * Shards whose owner list changed (membership or order, so a new primary counts) or whose readers
 * changed (docs/hot-shards.md), sorted by shard:
 * what the translator turns into EDS updates and the admin view reports as moves. A shard present
 * in only one map (S changed) moves from or to no owners.
 */
export function diffShardMaps(from: ShardMap, to: ShardMap): ShardMapDiff {
  const moves: ShardMove[] = [];
  const S = Math.max(from.owners.length, to.owners.length);
  for (let s = 0; s < S; s++) {
    const a = from.owners[s] ?? NONE;
    const b = to.owners[s] ?? NONE;
    if (from.readers === undefined && to.readers === undefined) {
      if (!sameOwners(a, b)) moves.push({ shard: s, from: a, to: b });
      continue;
    }
    const fromReaders = shardReaders(from, s);
    const toReaders = shardReaders(to, s);
    if (sameOwners(a, b) && fromReaders === toReaders) continue;
    moves.push(fromReaders > 1 || toReaders > 1 ? { shard: s, from: a, to: b, fromReaders, toReaders } : { shard: s, from: a, to: b });
  }
  return { fromVersion: from.version, toVersion: to.version, moves };
}

const sharesCache = new WeakMap<ShardMap, Map<string, { owned: number; primary: number }>>();

/**
 * For every endpoint of the map (owners or not): shards it owns (any position) and shards it leads
 * as primary. Feeds `shardsOwned`/`shardsPrimary` of REST `/v1/shardmap`. Computed once per map;
 * callers must not mutate the result.
 */
export function endpointShares(map: ShardMap): Map<string, { owned: number; primary: number }> {
  const cached = sharesCache.get(map);
  if (cached) return cached;
  const counts = new Map<string, { owned: number; primary: number }>();
  for (const e of map.endpoints) counts.set(e.id, { owned: 0, primary: 0 });
  for (const owners of map.owners) {
    for (let j = 0; j < owners.length; j++) {
      const c = counts.get(owners[j] as string);
      if (!c) continue;
      c.owned++;
      if (j === 0) c.primary++;
    }
  }
  sharesCache.set(map, counts);
  return counts;
}
