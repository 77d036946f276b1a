// The shard picker's cluster carries the owner table, S rows as wide as the most owners one shard
// has. A hot shard read by 16 owners (hotShards.maxReaders' largest) widens every row: at
// S = 131072 the cluster took 5.6 MB, past gRPC's 4 MiB message limit, and picker clients' xDS
// stream ended with nothing said. Now the translation warns, as it does for the per-shard resources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { applyHotShards, computeShardMap } from '../../../src/sharding/index.js';
import { translateWithWarnings } from '../../../src/xds/translator/index.js';
import { GRPC_MAX_MESSAGE_BYTES } from '../../../src/xds/translator/grpc-size.js';
import type { HotShardDecision } from '../../../src/core/load.js';
import { endpoint, topologyOf } from './fixtures.js';
import { encodedBytes } from './grpc-size-input.js';

const PICKER: ProxyClass = { flavor: 'grpc', zone: '', subzone: '', picker: true };
const eps = Array.from({ length: 16 }, (_, i) => endpoint(`cache-node-${i}`, `10.0.0.${i + 1}`));
const policy = { shardCount: 131072, replicas: 1, spread: 'none' as const };
const plain = computeShardMap(eps, policy);
const topology = topologyOf(eps, policy);

/** The map with shard 5 read by its first `k` owners, the 16 endpoints in order. */
function withHotShard(k: number) {
  const decision = { windowStartMs: 0, shards: [{ shard: 5, owners: eps.slice(0, k).map((e) => e.id), readers: k }], moves: [], deferred: [], totalMoves: 0 } as unknown as HotShardDecision;
  return applyHotShards(plain, decision);
}

test('a picker cluster past 4 MiB (one hot shard read by 16 owners at S = 131072) is a warning naming the table and the remedy', () => {
  const { resources, warnings } = translateWithWarnings({ shardMap: withHotShard(16), topology }, PICKER);
  const real = encodedBytes(resources).cluster;
  assert.ok(real > GRPC_MAX_MESSAGE_BYTES, `the case is past the limit: ${real} bytes`);
  const hit = warnings.find((w) => w.includes('shard picker'));
  assert.ok(hit, `${real} bytes of cluster, no warning:\n${warnings.join('\n')}`);
  const bound = Number(/at least (\d+) bytes/.exec(hit)![1]);
  assert.ok(bound > GRPC_MAX_MESSAGE_BYTES && bound <= real, `bound ${bound}, encoded ${real}`);
  assert.match(hit, /4194304-byte message limit.*131072 shards x 16 owners.*hot shard.*lower shards or hotShards\.maxReaders/);
});

test('no picker warning while the cluster fits: the plain map, or a hot shard of 4 readers', () => {
  for (const map of [plain, withHotShard(4)]) {
    const { resources, warnings } = translateWithWarnings({ shardMap: map, topology }, PICKER);
    assert.ok(encodedBytes(resources).cluster <= GRPC_MAX_MESSAGE_BYTES);
    assert.deepEqual(warnings.filter((w) => w.includes('message limit')), []);
  }
});
