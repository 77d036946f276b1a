/**
 * A request on another path than `/kv/` is cached under its path and query, and its shard is the
 * `x-cache-shard` it carried (what the proxy routed on), which the path's own hash need not be.
 * The L1 sweep and `/v1/warm` must take such an entry as of the shard it was requested under: by
 * the path's hash, a lost shard's entries stayed in L1 and a kept shard's were moved to L2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';
import { TieredCache } from '../../examples/cache-node/tiers.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { standInAgent } from './cache-node-support.js';

const S = 64;

test('an entry requested under x-cache-shard on a path of another hash leaves L1 with that shard, and only with it', async (t) => {
  const agent = standInAgent(S);
  const node = await startCacheNodeServer({ id: 'a', keywayXds: ['127.0.0.1:1'], createAgent: agent.create, l3DelayMs: 0 });
  t.after(() => node.close());
  const serveAll = (lost: readonly number[]): void => {
    agent.assignments.clear();
    for (let shard = 0; shard < S; shard++) {
      if (!lost.includes(shard)) agent.assignments.set(shard, { shard, shardCount: S, role: 'primary', phase: 'serving', servingOwners: [], untilUnixMs: 0, reader: true });
    }
    agent.options().onChange?.(agent.assignments);
  };
  serveAll([]);

  // An application path routed by the shard of the key in x-cache-key, as Envoy's Lua filter sets it.
  const path = '/api/profile?id=7';
  const routed = keyToShard('user:7', S);
  const hashed = keyToShard(path, S);
  assert.notEqual(routed, hashed, 'the test needs a path that hashes to another shard');
  const res = await fetch(`${node.url}${path}`, { headers: { 'x-cache-shard': String(routed), 'x-cache-key': 'user:7' } });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { shard: number }).shard, routed);
  assert.deepEqual(node.cache.l1.keys(), [path]);

  const warm = async (shard: number): Promise<string[]> => {
    const body = (await (await fetch(`${node.url}/v1/warm?shard=${shard}`)).json()) as { entries: [string, string, number][] };
    return body.entries.map(([k]) => k);
  };
  assert.deepEqual(await warm(hashed), [], 'not handed off as a shard it was not requested under');

  serveAll([hashed]);
  assert.deepEqual(node.cache.l1.keys(), [path], 'losing the shard its path hashes to leaves it in L1');
  serveAll([hashed, routed]);
  assert.deepEqual(node.cache.l1.keys(), [], 'losing the shard it was requested under moves it out of L1');
  assert.ok(node.cache.l2.has(path), 'into L2');
});

test('an L1 entry forgets the shard it was requested under once it leaves L1', async () => {
  const cache = new TieredCache({ l1Capacity: 1, l2Capacity: 10, l3DelayMs: 0 });
  const path = '/api/profile?id=7';
  const routed = (keyToShard(path, S) + 1) % S;
  await cache.get(path, true, routed);
  assert.equal(cache.l1ShardOf(path, S), routed);
  await cache.get('/other', true, routed); // evicts the path from L1
  cache.l1.set(path, 'v'); // back in L1 with no request's shard: its key's
  assert.equal(cache.l1ShardOf(path, S), keyToShard(path, S));
  await cache.get(path, true, routed);
  cache.l1.delete(path);
  cache.l1.set(path, 'v');
  assert.equal(cache.l1ShardOf(path, S), keyToShard(path, S));
});
