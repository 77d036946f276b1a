import type { ShardMap } from '../../../src/sharding/index.js';

/** A hand-written shard map (R = 2, one subzone per node): tests work their figures out from `owners`. */
export function handMap(owners: string[][], ids = ['a', 'b', 'c', 'd']): ShardMap {
  return {
    version: owners.map((o) => o.join(',')).join('|'),
    policy: { shardCount: owners.length, replicas: 2, spread: 'none' },
    endpoints: ids.map((id) => ({ id, address: '10.0.0.1', port: 1, locality: { region: 'r', zone: 'z', subzone: `f-${id}` }, weight: 1, ready: true })),
    owners,
    warnings: [],
  };
}
