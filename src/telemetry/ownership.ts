/**
 * Per-endpoint ownership rows for `keyway_shards_owned` / `keyway_shards_primary` and the weight
 * gauges, read from the shard map in force (docs/architecture.md "Vocabulary": owners, primary first).
 */
import { endpointShares } from '../sharding/queries.js';
import type { ShardMap } from '../core/shard-map.js';
import type { OwnershipRow } from './metrics.js';

/** One row per endpoint of the map, owners or not (a not-ready endpoint shows 0 owned). */
export function ownershipRows(map: ShardMap): OwnershipRow[] {
  const shares = endpointShares(map);
  return map.endpoints.map((e) => {
    const s = shares.get(e.id);
    return {
      endpoint: e.id,
      region: e.locality.region,
      zone: e.locality.zone,
      subzone: e.locality.subzone,
      owned: s?.owned ?? 0,
      primary: s?.primary ?? 0,
      weight: e.weight,
      ready: e.ready,
    };
  });
}
