/**
 * keyway's shard picker in a real @grpc/grpc-js-xds client (docs/xds.md "The shard picker"): the
 * client registers `keyway/grpc` and says so in its bootstrap node.metadata; keyway serve
 * (in-process) gives it one route and one cluster. Every shard must land on the primary that
 * /v1/shardmap names, a key on the primary of its contract-1 shard, a shard whose primary is down on
 * its replica, a bad shard header fail with INVALID_ARGUMENT, and a topology change move the calls;
 * a client whose bootstrap node has no locality works too.
 * Without the policy grpc-js would round-robin, so the primary checks fail.
 * Then: ownership changes keep one connection per node (no reconnect per CDS/EDS update); over
 * random topologies every shard reaches the routed primary /v1/shardmap lists (a differential
 * test, KEYWAY_PICKER_SEED replays one); and more than 1024 calls in flight are not dropped (the
 * picker cluster's circuit breakers lift gRPC's default cap).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/eventually.js';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { restartableWho, WHO_METHOD } from '../support/grpc-who.js';
import { startProbeProcess } from './support/probe-process.js';
import type { ShardMapBody } from '../support/rest-bodies.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { withShardPicker } from '../../src/grpc/index.js';
import { shardFor } from '../../src/client/index.js';
import { Rng } from '../support/seeded-random.js';

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

/** A Who server answering `name peer`: the peer is the client's socket, so each new connection shows. */
async function peerWho(name: string, host = '127.0.0.1'): Promise<{ name: string; host: string; port: number; stop(): void }> {
  const server = new Server();
  const raw = (b: Buffer): Buffer => b;
  server.addService(
    { Who: { path: WHO_METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Who: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => cb(null, Buffer.from(`${name} ${call.getPeer()}`)) },
  );
  const port = await new Promise<number>((res, rej) => server.bindAsync(host.includes(':') ? `[${host}]:0` : `${host}:0`, ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { name, host, port, stop: () => server.forceShutdown() };
}

test('ownership changes reuse the connections: one connection per endpoint however many CDS and EDS updates arrive', async (t) => {
  const nodes = await Promise.all(['node-0', 'node-1', 'node-2'].map((n) => peerWho(n)));
  t.after(() => nodes.forEach((n) => n.stop()));
  const weights = (round: number): { name: string; port: number; weight: number }[] => nodes.map((n, i) => ({ name: n.name, port: n.port, weight: 10 + ((round + i) % 3) * 15 }));
  const { server, topo } = await startKeywayInProcess(t, topology(weights(0)), { fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 } });
  const base = `http://127.0.0.1:${server.httpPort}`;
  const shardMap = async (): Promise<ShardMapBody> => (await (await fetch(`${base}/v1/shardmap`)).json()) as ShardMapBody;
  const xdsServers = [{ server_uri: `127.0.0.1:${server.listening.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }];
  const client = startProbe('xds:///keyway-cache', withShardPicker({ xds_servers: xdsServers, node: { id: 'grpc-picker-churn' } }));
  t.after(() => client.close());

  const peers = new Map<string, Set<string>>(nodes.map((n) => [n.name, new Set()]));
  /** Every shard answered by its primary in `map`; the peers of those answers are recorded. */
  const converge = async (map: ShardMapBody, record: boolean): Promise<void> => {
    await eventually(
      `every shard on its primary of ${map.version}`,
      async () => {
        for (const { shard, owners } of map.shards) {
          const [name = '', peer = ''] = (await client.who({ shard }).catch((e: Error) => e.message)).split(' ');
          if (name !== owners[0]) return false;
          if (record) peers.get(name)!.add(peer);
        }
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
  };
  let map = await shardMap();
  await converge(map, false);
  // Each round changes the weights: new owners, so a new CDS resource (and EDS, whose weights change).
  for (let round = 1; round <= 5; round++) {
    await topo.write(topology(weights(round)));
    const previous = map.version;
    map = await eventually(`map ${round}`, async () => {
      const m = await shardMap();
      return m.version !== previous ? m : undefined;
    });
    await converge(map, true);
  }
  for (const [name, seen] of peers) assert.ok(seen.size <= 1, `${name} was reached over ${seen.size} connections: ${[...seen].join(', ')}`);
  assert.ok([...peers.values()].some((s) => s.size === 1), 'some node answered');
});

test('differential: over random topologies (IPv4 and IPv6 nodes, R 1 to 3, nodes not ready or draining) every shard reaches the routed primary /v1/shardmap lists', async (t) => {
  const seed = Number(process.env['KEYWAY_PICKER_SEED'] ?? 20261206);
  // Seeded (test/support/seeded-random.ts), so a failing round can be replayed from its seed.
  const rng = new Rng(seed);
  const random = (): number => rng.next();
  const hosts = ['127.0.0.1', '127.0.0.1', '127.0.0.1', '::1', '::1'];
  const nodes = await Promise.all(hosts.map((h, i) => peerWho(`node-${i}`, h)));
  t.after(() => nodes.forEach((n) => n.stop()));
  // S changes every round (so does the map's version): the owner table changes size under the picker.
  const randomTopology = (round: number): string => {
    const shards = [8, 16, 32][round % 3]!;
    const replicas = 1 + Math.floor(random() * 3);
    const lines = [`shards: ${shards}`, `replicas: ${replicas}`, 'spread: none', 'service: keyway-cache', 'envoy: {missingHeader: reject}', 'endpoints:'];
    const ready = nodes.map(() => random() < 0.75);
    if (!ready.some(Boolean)) ready[0] = true;
    nodes.forEach((n, i) => {
      const state = ready[i] ? 'ready: true' : random() < 0.5 ? 'draining: true' : 'ready: false';
      lines.push(`  - id: ${n.name}`, `    address: "${n.host}"`, `    port: ${n.port}`, `    locality: {region: r, zone: z${i % 2}, subzone: nvl-${i}}`);
      lines.push(`    weight: ${1 + Math.floor(random() * 50)}`, `    ${state}`);
    });
    return `${lines.join('\n')}\n`;
  };
  const { server, topo } = await startKeywayInProcess(t, randomTopology(0), { fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 } });
  const base = `http://127.0.0.1:${server.httpPort}`;
  const shardMap = async (): Promise<ShardMapBody> => (await (await fetch(`${base}/v1/shardmap`)).json()) as ShardMapBody;
  const xdsServers = [{ server_uri: `127.0.0.1:${server.listening.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }];
  const client = startProbe('xds:///keyway-cache', withShardPicker({ xds_servers: xdsServers, node: { id: 'grpc-picker-differential' } }));
  t.after(() => client.close());
  const answer = async (shard: number): Promise<string> => (await client.who({ shard }).catch((e: Error) => e.message)).split(' ')[0]!;

  let map = await shardMap();
  for (let round = 0; round < 4; round++) {
    const expected = map.shards.map((s) => s.owners[0]);
    await eventually(
      `seed ${seed} round ${round}: every shard on its routed primary`,
      async () => {
        for (const { shard } of map.shards) if ((await answer(shard)) !== expected[shard]) return false;
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    // Converged; then steady: each shard, asked again, stays on its primary.
    for (const { shard } of map.shards) assert.equal(await answer(shard), expected[shard], `seed ${seed} round ${round} shard ${shard}`);
    const previous = map.version;
    await topo.write(randomTopology(round + 1));
    map = await eventually(`seed ${seed}: map of round ${round + 1}`, async () => {
      const m = await shardMap();
      return m.version !== previous ? m : undefined;
    });
  }
});

// grpc-js-xds (as grpc-go) fails calls past a cluster's circuit_breakers max_requests, 1024 when the
// cluster sets none, and the picker puts the whole fleet in one cluster: a client with more than
// 1024 calls in flight across all nodes gets UNAVAILABLE "Call dropped by load balancing policy."
test('more than 1024 calls in flight through the one picker cluster are not dropped', async (t) => {
  const nodes = await Promise.all(['node-0', 'node-1'].map(backend));
  t.after(() => Promise.all(nodes.map((n) => n.stop())));
  const { server } = await startKeywayInProcess(t, topology(nodes.map((n) => ({ name: n.name, port: n.port, weight: 10 }))));
  const xdsServers = [{ server_uri: `127.0.0.1:${server.listening.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }];
  const client = startProbe('xds:///keyway-cache', withShardPicker({ xds_servers: xdsServers, node: { id: 'grpc-picker-busy' } }));
  t.after(() => client.close());
  await eventually('the picker answers', () => client.who({ shard: 0 }).catch(() => undefined));
  nodes.forEach((n) => n.setDelay(800));
  // In batches: grpc-js-xds counts a call once it has started, so calls picked in one tick all pass.
  const calls: Promise<string>[] = [];
  for (let batch = 0; batch < 14; batch++) {
    for (let i = 0; i < 100; i++) calls.push(client.who({ shard: i % SHARDS }).then(() => 'ok', (e: Error) => e.message));
    await new Promise((r) => setTimeout(r, 30));
  }
  const failed = (await Promise.all(calls)).filter((r) => r !== 'ok');
  assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of ${calls.length} calls failed`);
});
