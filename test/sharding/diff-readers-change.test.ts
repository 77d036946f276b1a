// diffShardMaps reports a shard whose readers change even when its owners do not: a hot shard
// spread over more readers (or back to one) changes where its requests go (docs/hot-shards.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap, diffShardMaps } from '../../src/sharding/index.js';

const nodes: Endpoint[] = ['a', 'b', 'c'].map((id, i) => ({
  id,
  address: `10.0.0.${i + 1}`,
  port: 7000,
  locality: { region: 'r', zone: 'z', subzone: 'f' },
  weight: 1,
  ready: true,
}));

test('a shard spread to more readers with the same owners is a move; back to one reader is one too', () => {
  const plain = computeShardMap(nodes, { shardCount: 16, replicas: 3, spread: 'none' });
  const spread: ShardMap = { ...plain, version: 'spread', readers: new Map([[5, 2]]) };
  assert.deepEqual(diffShardMaps(plain, spread).moves, [{ shard: 5, from: plain.owners[5], to: plain.owners[5], fromReaders: 1, toReaders: 2 }]);
  assert.deepEqual(diffShardMaps(spread, plain).moves, [{ shard: 5, from: plain.owners[5], to: plain.owners[5], fromReaders: 2, toReaders: 1 }]);
  assert.deepEqual(diffShardMaps(spread, { ...spread, version: 'same' }).moves, []);
});
