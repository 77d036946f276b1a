/**
 * Before its first shard map a cache node admits every shard to L1 (it cannot tell which it owns).
 * The first map must then move the L1 entries of shards the node does not read to L2, as every
 * later change does for the shards it stops reading: the sweep compared each map with the one
 * before, found nothing lost the first time, and left them in GPU memory until LRU aged them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { standInAgent } from './cache-node-support.js';

const S = 64;

test('L1 entries admitted before the first shard map leave L1 when that map does not give their shards', async (t) => {
  const agent = standInAgent(S);
  const node = await startCacheNodeServer({ id: 'a', keywayXds: ['127.0.0.1:1'], createAgent: agent.create, l3DelayMs: 0 });
  t.after(() => node.close());

  const keys = Array.from({ length: 40 }, (_, i) => `user:${i}`);
  for (const key of keys) assert.equal((await fetch(`${node.url}/kv/${key}`)).status, 200);
  assert.equal(node.cache.l1.size, keys.length, 'no shard map yet: every key is admitted to L1');

  // The first map: the node reads the even shards only.
  const owned = (shard: number): boolean => shard % 2 === 0;
  for (let shard = 0; shard < S; shard += 2) agent.assignments.set(shard, { shard, shardCount: S, role: 'primary', phase: 'serving', servingOwners: [], untilUnixMs: 0, reader: true });
  agent.options().onChange?.(agent.assignments);

  const ownedKeys = keys.filter((k) => owned(keyToShard(k, S)));
  const otherKeys = keys.filter((k) => !owned(keyToShard(k, S)));
  assert.ok(ownedKeys.length > 0 && otherKeys.length > 0, 'the test needs keys of both kinds');
  assert.deepEqual(node.cache.l1.keys().sort(), ownedKeys.sort(), 'only the shards the node reads stay in L1');
  for (const key of otherKeys) assert.ok(node.cache.l2.has(key), `${key} moved to L2`);
});

test('a value read from L3 while its shard left the node does not enter L1 after the sweep', async (t) => {
  const agent = standInAgent(S);
  const node = await startCacheNodeServer({ id: 'a', keywayXds: ['127.0.0.1:1'], createAgent: agent.create, l3DelayMs: 200 });
  t.after(() => node.close());
  const give = (except?: number): void => {
    agent.assignments.clear();
    for (let shard = 0; shard < S; shard++) {
      if (shard !== except) agent.assignments.set(shard, { shard, shardCount: S, role: 'primary', phase: 'serving', servingOwners: [], untilUnixMs: 0, reader: true });
    }
    agent.options().onChange?.(agent.assignments);
  };
  give();
  const key = 'user:1';
  const request = fetch(`${node.url}/kv/${key}`);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the read of L3 is under way
  give(keyToShard(key, S)); // the shard moves away: the sweep finds nothing of it in L1 yet
  assert.equal((await request).status, 200);
  assert.deepEqual(node.cache.l1.keys(), [], 'the value went to L2 only');
  assert.ok(node.cache.l2.has(key));
});
