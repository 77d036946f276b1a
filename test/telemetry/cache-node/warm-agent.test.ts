/**
 * The example cache node with keyway's real ownership agent (src/agent) against keyway serve in
 * this process (docs/ownership.md): a node that joins warms the shards it gains from their
 * serving owner before the route flips, and a departing node's /v1/drain answers once every shard
 * is handed off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyToShard } from '../../../src/sharding/index.js';
import { CACHE_NODE_METRICS as W } from '../../../src/telemetry/metric-names.js';
import { startCacheNodeServer } from '../../../examples/cache-node/server.js';
import { freePorts } from '../../../e2e/support/ports.js';
import { eventually } from '../../support/eventually.js';
import { startKeywayInProcess } from '../../support/keyway-in-process.js';
import { parseExposition } from '../support/exposition.js';

const S = 16;

function topology(nodes: ReadonlyArray<{ id: string; port: number; draining?: boolean }>): string {
  // Hot shards off: the nodes report the test's few requests, and a hot-shard move would be a move the test does not plan.
  const lines = [`shards: ${S}`, 'replicas: 1', 'handoff: {enabled: true, warmTimeoutMs: 20000}', 'hotShards: {enabled: false}', 'endpoints:'];
  for (const n of nodes) lines.push(`  - {id: ${n.id}, address: 127.0.0.1, port: ${n.port}${n.draining ? ', draining: true' : ''}}`);
  return `${lines.join('\n')}\n`;
}

test('with the ownership stream, a joining node warms its shards from the serving owner before the flip, and a departing node drains', async (t) => {
  const [portA, portB] = await freePorts(2);
  const { server, topo } = await startKeywayInProcess(t, topology([{ id: 'a', port: portA! }]), { fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 } });
  const xds = [`127.0.0.1:${server.listening.xdsPort}`];
  const a = await startCacheNodeServer({ id: 'a', port: portA!, keywayXds: xds, l1Capacity: 1_000, l3DelayMs: 0 });
  t.after(() => a.close());
  assert.equal(a.ownershipSource, 'stream');
  await eventually('a serves every shard', () => a.ownership()?.primary.size === S);
  const keys = Array.from({ length: 200 }, (_, i) => `user:${i}`);
  for (const k of keys) assert.equal((await fetch(`${a.url}/kv/${k}`)).status, 200);

  const b = await startCacheNodeServer({ id: 'b', port: portB!, keywayXds: xds, l1Capacity: 1_000, l3DelayMs: 0 });
  t.after(() => b.close());
  await topo.write(topology([{ id: 'a', port: portA! }, { id: 'b', port: portB! }]));
  const gained = (await eventually('b serves the shards it gained', () => b.ownership()?.primary, {
    accept: (p) => (p?.size ?? 0) > 0 && b.ownership()!.warming!.size === 0,
  }))!;
  const moved = keys.filter((k) => gained.has(keyToShard(k, S)));
  assert.ok(moved.length > 0);
  for (const k of moved) assert.ok(b.cache.l1.has(k), `${k} was copied into b's L1 before the flip`);
  const exp = parseExposition(await (await fetch(`${b.url}/metrics`)).text());
  assert.equal(exp.find(W.warmEntries).reduce((sum, s) => sum + s.value, 0), moved.length);
  assert.equal(exp.value(`${W.warmDuration}_count`, { outcome: 'copied' }) + (exp.find(`${W.warmDuration}_count`, { outcome: 'empty' })[0]?.value ?? 0), gained.size);
  const routed = await eventually('keyway routes the gained shards to b', async () => {
    const body = (await (await fetch(`http://127.0.0.1:${server.httpPort}/v1/shardmap`)).json()) as { shards: { shard: number; owners: string[] }[] };
    return body.shards.filter((s) => s.owners[0] === 'b').map((s) => s.shard);
  }, { accept: (s) => s.length === gained.size });
  assert.deepEqual(routed.sort((x, y) => x - y), [...gained].sort((x, y) => x - y));
  await eventually('a drains what it lost', () => a.ownership()?.draining?.size === gained.size);

  // a departs: every shard it still serves moves to b, warm, and a's drain endpoint answers.
  const drained = fetch(`${a.url}/v1/drain?timeoutMs=20000`, { method: 'POST' });
  await topo.write(topology([{ id: 'a', port: portA!, draining: true }, { id: 'b', port: portB! }]));
  assert.deepEqual(await (await drained).json(), { handedOff: true });
  await eventually('b serves every shard', () => b.ownership()?.primary.size === S);
  for (const k of keys) assert.ok(b.cache.l1.has(k), `${k} is in b's L1`);
  await eventually("a's draining shards leave its L1", () => keys.every((k) => !a.cache.l1.has(k)));
  for (const k of keys) assert.ok(a.cache.l2.has(k), `a still has ${k} in L2 for requests on their way`);
});
