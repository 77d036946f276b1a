// A serving node that sends no load reports while the others do (its agent stopped, or never ran):
// the hot-shard policy does not take it for the idlest node and pile moved shards and extra
// readers onto it (docs/hot-shards.md "The algorithm").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HOT_SHARD_SETTINGS, type LoadSnapshot } from '../../src/core/load.js';
import { computeShardMap, decideHotShards } from '../../src/sharding/index.js';
import { cacheNodes, snapshotOf, zipfShardLoads } from './hot-shards-fixtures.js';

const SETTINGS = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 10_000 };

for (const weights of [[1], [1, 1, 2, 2, 4, 4, 8, 8]]) {
  test(`weights ${weights.join(',')}: no shard is moved to or spread onto a node whose reports are missing`, () => {
    const map = computeShardMap(cacheNodes(8, weights), { shardCount: 1024, replicas: 2, spread: 'none' });
    const loads = zipfShardLoads(20_000, 1.0, 1024, 700);
    const ids = map.endpoints.map((e) => e.id);
    for (const silent of ids) {
      // The silent node's requests are in no report: its shards show only what the others counted (nothing here).
      const seen = new Map([...loads].filter(([shard]) => map.owners[shard]![0] !== silent));
      const snapshots: LoadSnapshot[] = Array.from({ length: 40 }, (_, i) => snapshotOf(seen, i, ids.filter((id) => id !== silent)));
      const decision = decideHotShards(map, snapshots, SETTINGS);
      const onto = decision.shards.filter((h) => h.owners.slice(0, h.readers).includes(silent) && map.owners[h.shard]![0] !== silent);
      assert.deepEqual(onto.map((h) => h.shard), [], `${silent}: ${onto.map((h) => `shard ${h.shard} ${h.explanation}`).join('; ')}`);
    }
  });
}

test('a snapshot that names none of the serving nodes leaves every node a receiver, as before', () => {
  const map = computeShardMap(cacheNodes(8), { shardCount: 1024, replicas: 2, spread: 'none' });
  const loads = zipfShardLoads(20_000, 1.0, 1024, 700);
  const named = Array.from({ length: 10 }, (_, i) => snapshotOf(loads, i, map.endpoints.map((e) => e.id)));
  const unnamed = Array.from({ length: 10 }, (_, i) => snapshotOf(loads, i, ['all']));
  assert.deepEqual(decideHotShards(map, unnamed, SETTINGS).shards, decideHotShards(map, named, SETTINGS).shards);
});
