/**
 * keyway's shard picker in a real @grpc/grpc-js-xds client (docs/xds.md "The shard picker"): the
 * client registers `keyway/grpc` and says so in its bootstrap node.metadata; keyway serve
 * (in-process) gives it one route and one cluster. Every shard must land on the primary that
 * /v1/shardmap names, a key on the primary of its contract-1 shard, a shard whose primary is down on
 * its replica, a bad shard header fail with INVALID_ARGUMENT, and a topology change move the calls;
 * a client whose bootstrap node has no locality works too.
 * Without the policy grpc-js would round-robin, so the primary checks fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/eventually.js';
import { restartableWho } from '../support/grpc-who.js';
import { startProbeProcess } from './support/probe-process.js';
import type { ShardMapBody } from '../support/rest-bodies.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { withShardPicker } from '../../src/grpc/index.js';
import { shardFor } from '../../src/client/index.js';

const SHARDS = 16;

const backend = restartableWho;

interface Probe {
  who(req: { shard?: number | string; key?: string }): Promise<string>;
  close(): void;
}

function startProbe(target: string, bootstrap: object): Probe {
  const probe = startProbeProcess(new URL('./support/grpc-picker-probe.ts', import.meta.url), target, bootstrap);
  return {
    who: ({ shard, key }) => probe.ask({ ...(shard !== undefined && { shard: String(shard) }), ...(key !== undefined && { key }) }),
    close: () => probe.close(),
  };
}

/** Calls until 3 answers in a row come from `expected`. */
async function untilAnswer(client: Probe, req: { shard?: number; key?: string }, expected: string, timeoutMs = 20_000): Promise<void> {
  const inARow = async (): Promise<string> => {
    for (let i = 0; i < 3; i++) {
      const answer = await client.who(req).catch((e: Error) => e.message);
      if (answer !== expected) return answer;
    }
    return expected;
  };
  await eventually(`${JSON.stringify(req)}: 3 answers in a row from ${expected}`, inARow, { accept: (a) => a === expected, timeoutMs, intervalMs: 50 });
}

function topology(nodes: readonly { name: string; port: number; weight: number }[]): string {
  const lines = [`shards: ${SHARDS}`, 'replicas: 2', 'spread: none', 'service: keyway-cache', 'xds: {holdOffMs: 10, maxDelayMs: 100}', 'envoy: {missingHeader: reject}', 'endpoints:'];
  nodes.forEach((n, i) => {
    lines.push(`  - id: ${n.name}`, '    address: 127.0.0.1', `    port: ${n.port}`, `    locality: {region: r, zone: z${i % 2}, subzone: nvl-${i}}`, `    weight: ${n.weight}`);
  });
  return `${lines.join('\n')}\n`;
}

test('grpc-js-xds with keyway/grpc: shards on their primary, keys by contract 1, replica while the primary is down, new owners after a change', async (t) => {
  const nodes = await Promise.all(['node-0', 'node-1', 'node-2', 'node-3'].map(backend));
  t.after(() => Promise.all(nodes.map((n) => n.stop())));
  const { server, topo } = await startKeywayInProcess(t, topology(nodes.map((n) => ({ name: n.name, port: n.port, weight: 10 }))), {
    fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 },
  });
  const base = `http://127.0.0.1:${server.httpPort}`;
  const shardMap = async (): Promise<ShardMapBody> => (await (await fetch(`${base}/v1/shardmap`)).json()) as ShardMapBody;

  const xdsServers = [{ server_uri: `127.0.0.1:${server.listening.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }];
  const client = startProbe('xds:///keyway-cache', withShardPicker({ xds_servers: xdsServers, node: { id: 'grpc-picker-1', locality: { region: 'r', zone: 'z9', sub_zone: 'nvl-9' } } }));
  t.after(() => client.close());
  // A node without a locality, which grpc-js-xds refuses unless withShardPicker supplies one.
  const bare = startProbe('xds:///keyway-cache', withShardPicker({ xds_servers: xdsServers, node: { id: 'grpc-picker-bare' } }));
  t.after(() => bare.close());

  const map1 = await shardMap();
  for (const { shard, owners } of map1.shards) await untilAnswer(client, { shard }, owners[0]!);
  await untilAnswer(bare, { shard: 0 }, map1.shards[0]!.owners[0]!);
  bare.close();
  // The key header, hashed by contract 1 in the client.
  for (const key of ['user:1', 'user:2', '{tenant-7}:cart', 'session:abc']) {
    await untilAnswer(client, { key }, map1.shards[shardFor(key, SHARDS)]!.owners[0]!);
  }
  await assert.rejects(client.who({ shard: SHARDS }), /INVALID_ARGUMENT.*x-cache-shard/);
  await assert.rejects(client.who({}), /INVALID_ARGUMENT.*x-cache-shard or x-cache-key/, 'missingHeader reject');

  // keyway served it the picker class: one cluster, one route.
  const row = await eventually('the picker client SYNCED in /v1/proxies', async () => {
    const body = (await (await fetch(`${base}/v1/proxies`)).json()) as { proxies: { id: string; proxyClass: string; types: Record<string, { status: string; names?: string[] }> }[] };
    const p = body.proxies.find((x) => x.id === 'grpc-picker-1');
    return p && Object.values(p.types).every((x) => x.status === 'SYNCED') ? p : undefined;
  });
  assert.match(row.proxyClass, /\|picker$/);

  // The primary of shard 0 goes down: its calls reach the replica, then come back.
  const [primary, replica] = map1.shards[0]!.owners as [string, string];
  const down = nodes.find((n) => n.name === primary)!;
  await down.stop();
  await untilAnswer(client, { shard: 0 }, replica);
  // Every shard the node led is served by its replica, without a new config from keyway.
  for (const { shard, owners } of map1.shards.filter((s) => s.owners[0] === primary)) await untilAnswer(client, { shard }, owners[1]!);
  await down.start();
  await untilAnswer(client, { shard: 0 }, primary, 30_000);

  // Topology change: node-2 leaves and node-0 gets four times the weight; calls follow the new owners.
  await topo.write(topology(nodes.filter((n) => n.name !== 'node-2').map((n) => ({ name: n.name, port: n.port, weight: n.name === 'node-0' ? 40 : 10 }))));
  const map2 = await eventually('the new shard map', async () => {
    const m = await shardMap();
    return m.version !== map1.version ? m : undefined;
  });
  assert.ok(map2.shards.some((s, i) => s.owners[0] !== map1.shards[i]!.owners[0]), 'some primary moved');
  for (const { shard, owners } of map2.shards) await untilAnswer(client, { shard }, owners[0]!);
  for (const { shard, owners } of map2.shards) {
    for (let i = 0; i < 3; i++) assert.equal(await client.who({ shard }), owners[0], `shard ${shard} after the change`);
  }
});
