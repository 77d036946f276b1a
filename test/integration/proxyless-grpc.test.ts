/**
 * A real proxyless gRPC client against `keyway serve` in-process: @grpc/grpc-js-xds, bootstrapped to
 * keyway's xDS port, dials xds:///keyway-cache and sends RPCs carrying `x-cache-shard: N` metadata.
 * Several local gRPC servers answer with their identity, listed in a topology file. Every RPC must
 * land on the owner of its shard that /v1/shardmap names as primary; when the primary is down it
 * lands on the replica (EDS priorities), and calls in flight to a primary that is stopped or killed
 * are retried there; after a topology file change the RPCs follow the new owners.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { closedLoop } from '../support/closed-loop.js';
import { eventually } from '../support/eventually.js';
import { restartableWho, type RestartableWho } from '../support/grpc-who.js';
import { killableWho } from './support/grpc-backend.js';
import { startProbeProcess } from './support/probe-process.js';
import type { ShardMapBody } from '../support/rest-bodies.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';

const SHARDS = 8;

const backend = restartableWho;

/** The real grpc-js-xds client, in its own process (see support/grpc-xds-probe.ts for why). */
interface Probe {
  /** One RPC; `shard` undefined sends no `x-cache-shard`. Resolves with the server name; rejects with the RPC error. */
  who(shard?: number): Promise<string>;
  close(): void;
}

function startProbe(target: string, bootstrap: object): Probe {
  const probe = startProbeProcess(new URL('./support/grpc-xds-probe.ts', import.meta.url), target, bootstrap);
  return {
    who: (shard) => probe.ask(shard === undefined ? {} : { shard: String(shard) }),
    close: () => probe.close(),
  };
}

/** Calls until `count` answers in a row come from `expected` (the client converges on pushed config), within a deadline. */
async function untilAnswer(client: Probe, shard: number | undefined, expected: string, timeoutMs = 20_000, count = 3): Promise<void> {
  const inARow = async (): Promise<string> => {
    for (let i = 0; i < count; i++) {
      const answer = await client.who(shard);
      if (answer !== expected) return answer;
    }
    return expected;
  };
  await eventually(`shard ${shard ?? '-'}: ${count} answers in a row from ${expected}`, inARow, { accept: (answer) => answer === expected, timeoutMs, intervalMs: 50 });
}

function topology(nodes: readonly { name: string; port: number; weight: number }[]): string {
  const lines = [`shards: ${SHARDS}`, 'replicas: 2', 'spread: none', 'service: keyway-cache', 'xds: {holdOffMs: 10, maxDelayMs: 100}', 'endpoints:'];
  nodes.forEach((n, i) => {
    lines.push(
      `  - id: ${n.name}`,
      '    address: 127.0.0.1',
      `    port: ${n.port}`,
      `    locality: {region: r, zone: z${i % 2}, subzone: nvl-${i}}`,
      `    weight: ${n.weight}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

/** keyway serve in process over `nodes`, and the grpc-js-xds probe bootstrapped to it as `clientId`. */
async function startFleet(t: TestContext, nodes: readonly RestartableWho[], clientId: string) {
  const { server, topo } = await startKeywayInProcess(t, topology(nodes.map((n) => ({ name: n.name, port: n.port, weight: 10 }))), {
    fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 },
  });
  const base = `http://127.0.0.1:${server.httpPort}`;
  // grpc-js-xds reads the bootstrap (GRPC_XDS_BOOTSTRAP_CONFIG) when the first xds: channel resolves.
  const client = startProbe('xds:///keyway-cache', {
    xds_servers: [{ server_uri: `127.0.0.1:${server.listening.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: clientId, locality: { region: 'r', zone: 'z9', sub_zone: 'nvl-9' } },
  });
  t.after(() => client.close());
  const shardMap = async (): Promise<ShardMapBody> => (await (await fetch(`${base}/v1/shardmap`)).json()) as ShardMapBody;
  return { base, topo, client, shardMap };
}

/**
 * Stops `down`, the primary of shard 0, while 32 callers keep calls in flight to shard 0, and
 * requires every call answered by `down` or `replica` (gRPC's failover retry, docs/xds.md), the
 * replica among them; then starts `down` again. The node answers 50 ms late, then holds the calls
 * that reach it in its last 200 ms, so the stop finds calls in flight and none half answered: a
 * call whose answer arrived without its status cannot be retried (gRPC commits a call once a
 * response arrives), which no route can change (docs/xds.md "The failover retry").
 */
async function crashUnderLoad(client: Probe, down: RestartableWho, replica: string): Promise<void> {
  down.setDelay(50);
  const load = closedLoop(32, () => client.who(0).catch((err: Error) => `error: ${err.message}`));
  await new Promise((resolve) => setTimeout(resolve, 300));
  down.setDelay(60_000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await down.stop();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const { answers: outcomes } = await load.stop();
  down.setDelay(0);
  assert.deepEqual([...outcomes.keys()].filter((a) => a !== down.name && a !== replica), [], `every call answered by ${down.name} or ${replica}: ${JSON.stringify([...outcomes])}`);
  assert.ok((outcomes.get(replica) ?? 0) > 0, `the replica took over: ${JSON.stringify([...outcomes])}`);
  await untilAnswer(client, 0, replica);
  await down.start();
}

test('grpc-js-xds through keyway serve: every shard on its primary, replica while the primary is down, new owners after a topology change', async (t) => {
  const nodes = await Promise.all(['node-0', 'node-1', 'node-2', 'node-3'].map(backend));
  t.after(() => Promise.all(nodes.map((n) => n.stop())));
  const { base, topo, client, shardMap } = await startFleet(t, nodes, 'grpc-it-1');

  // Every shard lands on its primary.
  const map1 = await shardMap();
  for (const { shard, owners } of map1.shards) await untilAnswer(client, shard, owners[0]!);
  // Without the header: the catch-all route (missingHeader: any) reaches some node.
  assert.match(await client.who(), /^node-\d$/);

  const row = await eventually('the client SYNCED on every type in /v1/proxies', async () => {
    const body = (await (await fetch(`${base}/v1/proxies`)).json()) as { proxies: { id: string; flavor: string; types: Record<string, { status: string }> }[] };
    const p = body.proxies.find((x) => x.id === 'grpc-it-1');
    return p && Object.values(p.types).every((x) => x.status === 'SYNCED') ? p : undefined;
  });
  assert.equal(row.flavor, 'grpc');

  // The primary of shard 0 is stopped (forceShutdown: the calls in flight end CANCELLED) with 32
  // calls in flight to it; the route's retry takes them to the replica, none fails; then they come back.
  const [primary, replica] = map1.shards[0]!.owners as [string, string];
  await crashUnderLoad(client, nodes.find((n) => n.name === primary)!, replica);
  await untilAnswer(client, 0, primary, 30_000);

  // Topology change: node-2 leaves and node-0 gets four times the weight; RPCs follow the new owners.
  await topo.write(
    topology(nodes.filter((n) => n.name !== 'node-2').map((n) => ({ name: n.name, port: n.port, weight: n.name === 'node-0' ? 40 : 10 }))),
  );
  const map2 = await eventually('the new shard map', async () => {
    const m = await shardMap();
    return m.version !== map1.version ? m : undefined;
  });
  assert.ok(map2.shards.some((s, i) => s.owners[0] !== map1.shards[i]!.owners[0]), 'some primary moved');
  assert.ok(map2.shards.every((s) => !s.owners.includes('node-2')));
  for (const { shard, owners } of map2.shards) await untilAnswer(client, shard, owners[0]!);
  // Converged: every shard answers only from its new primary.
  for (const { shard, owners } of map2.shards) {
    for (let i = 0; i < 3; i++) assert.equal(await client.who(shard), owners[0], `shard ${shard} after the change`);
  }
});

test('grpc-js-xds through keyway serve: a primary killed with calls in flight (they fail UNAVAILABLE) fails over to the replica', async (t) => {
  const nodes = await Promise.all(['node-0', 'node-1', 'node-2'].map(killableWho));
  t.after(() => Promise.all(nodes.map((n) => n.stop())));
  const { client, shardMap } = await startFleet(t, nodes, 'grpc-it-kill');
  const map = await shardMap();
  for (const { shard, owners } of map.shards) await untilAnswer(client, shard, owners[0]!);
  const [primary, replica] = map.shards[0]!.owners as [string, string];
  await crashUnderLoad(client, nodes.find((n) => n.name === primary)!, replica);
  await untilAnswer(client, 0, primary, 30_000);
});
