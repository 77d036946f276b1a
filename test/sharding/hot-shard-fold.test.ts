// One step of the hot-shard policy (src/sharding/hot-shard-fold.ts): the rendezvous order a step
// reads is ranked only as far as asked, and that prefix must be exactly the full ranking's
// (hash contract 2: score descending, ties by id; the map's owners first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareStrings } from '../../src/core/order.js';
import { DEFAULT_HOT_SHARD_SETTINGS } from '../../src/core/load.js';
import { computeShardMap, rendezvousScore } from '../../src/sharding/index.js';
import { HotShardFold } from '../../src/sharding/hot-shard-fold.js';
import { cacheNodes } from './hot-shards-fixtures.js';

test('rendezvousOrder(shard, count) is the first count of the full ranking, however it grows', () => {
  const nodes = cacheNodes(300, [1, 2, 3, 5, 8]);
  // Not ready and weight 0 endpoints serve nothing: never in the order.
  const endpoints = nodes.map((e, i) => (i % 50 === 7 ? { ...e, ready: false } : i % 50 === 9 ? { ...e, weight: 0 } : e));
  const map = computeShardMap(endpoints, { shardCount: 4096, replicas: 3, spread: 'none' });
  const serving = endpoints.filter((e) => e.ready && e.weight > 0);
  const fold = new HotShardFold(map, { ...DEFAULT_HOT_SHARD_SETTINGS, enabled: true });
  for (const shard of [0, 1, 17, 1000, 4095]) {
    const base = map.owners[shard]!;
    const rest = serving
      .filter((e) => !base.includes(e.id))
      .map((e) => ({ id: e.id, score: rendezvousScore(e.id, shard, e.weight) }))
      .sort((a, b) => b.score - a.score || compareStrings(a.id, b.id))
      .map((x) => x.id);
    const full = [...base, ...rest];
    assert.equal(full.length, serving.length);
    // Asked for more and more of it, then for less: always the same prefix, never past the end.
    for (const count of [1, 3, 7, 40, 299, 500, 2]) {
      const got = fold.rendezvousOrder(shard, count);
      assert.ok(got.length >= Math.min(count, full.length), `shard ${shard}, count ${count}: only ${got.length}`);
      assert.deepEqual(got, full.slice(0, got.length), `shard ${shard}, count ${count}`);
    }
  }
});
