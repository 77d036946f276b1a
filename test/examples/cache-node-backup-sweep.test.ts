/**
 * A shard the node keeps only as a backup replica admits the requests that reach it (its readers
 * are down) to L1. When that shard then leaves the node (its drain begins, or it is gone), its L1
 * entries must move to L2 like any other shard's: the sweep compared each change with the shards
 * the node read before, which never held a backup shard, and left them in GPU memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Assignment } from '../../examples/cache-node/agent-ownership.js';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { standInAgent } from './cache-node-support.js';

const S = 16;

function keysOf(shard: number, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (keyToShard(`k:${i}`, S) === shard) out.push(`k:${i}`);
  return out;
}

const serving = (shard: number, role: 'primary' | 'replica', reader: boolean): Assignment => ({ shard, shardCount: S, role, phase: 'serving', servingOwners: [], untilUnixMs: 0, reader });

for (const how of ['draining', 'gone'] as const) {
  test(`a backup replica's L1 entries, admitted while its readers were down, leave L1 when the shard is ${how}`, async (t) => {
    const agent = standInAgent(S);
    const node = await startCacheNodeServer({ id: 'n', keywayXds: ['127.0.0.1:1'], createAgent: agent.create, l3DelayMs: 0 });
    t.after(() => node.close());
    const change = (list: Assignment[]): void => {
      agent.assignments.clear();
      for (const a of list) agent.assignments.set(a.shard, a);
      agent.options().onChange?.(agent.assignments);
    };
    change([serving(1, 'primary', true), serving(6, 'replica', false)]);
    const backup = keysOf(6, 3);
    const led = keysOf(1, 3);
    for (const k of [...backup, ...led]) assert.equal((await fetch(`${node.url}/kv/${k}`)).status, 200);
    for (const k of backup) assert.ok(node.cache.l1.has(k), `${k}: a backup replica admits what reaches it`);

    // Any change that leaves shard 6 as it is keeps its entries (the policy of docs/observability.md).
    change([serving(1, 'primary', true), serving(6, 'replica', false), serving(2, 'primary', true)]);
    for (const k of backup) assert.ok(node.cache.l1.has(k), `${k}: still a backup replica`);

    const after = how === 'draining'
      ? [serving(1, 'primary', true), { shard: 6, shardCount: S, role: 'replica', phase: 'draining', servingOwners: [], untilUnixMs: Date.now() + 60_000, reader: false } as Assignment]
      : [serving(1, 'primary', true)];
    change(after);
    for (const k of backup) {
      assert.equal(node.cache.l1.has(k), false, `${k} left L1 once shard 6 is ${how}`);
      assert.ok(node.cache.l2.has(k), `${k} moved to L2`);
    }
    for (const k of led) assert.ok(node.cache.l1.has(k), `${k}: the shard it leads stays`);
  });
}
