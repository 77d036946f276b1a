// ShardMapClient behind a Service over keyway replicas at different versions: the refused maps'
// tags it names in If-None-Match (shard-map-client-rejected-etag.test.ts has the two-replica case).
// Replicas behind at two older versions each answer 304 after their first answer; and a recheck
// (the held map named alone) that reaches a replica behind is followed by another recheck, not by
// REJECTED_MAP_RECHECK more fetches naming the refused map. Real admin apps on injected clocks.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { ShardMapClient } from '../../src/client/index.js';
import { REJECTED_MAP_RECHECK } from '../../src/client/shard-map-client.js';
import { listenForTest } from '../support/loopback-server.js';

const policy = { shardCount: 16, replicas: 1, spread: 'none' } as const;
const node = (id: string): Endpoint => ({ id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true });
const V1 = computeShardMap([node('a')], policy);
const V2 = computeShardMap([node('a'), node('b')], policy);
const V3 = computeShardMap([node('a'), node('b'), node('c')], policy);

let nowMs = Date.parse('2026-01-01T00:00:00.000Z');
const clock = (): Date => new Date(nowMs);

interface Replica {
  readonly name: string;
  readonly state: ServingState;
  readonly app: FastifyInstance;
}

async function replica(t: TestContext, name: string): Promise<Replica> {
  const state = new ServingState(clock);
  const app = await buildAdminApp(state);
  t.after(() => app.close());
  return { name, state, app };
}

const publish = (r: Replica, map: ShardMap): void => void r.state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });

/** A Service: each request goes to the next replica of `route`; each `/v1/shardmap` answer is recorded. */
async function service(t: TestContext) {
  const route: Replica[] = [];
  const maps: { replica: string; status: number }[] = [];
  const server = createServer((req, res) => {
    const to = route.shift();
    if (!to) return void res.writeHead(599).end();
    const ifNoneMatch = req.headers['if-none-match'];
    void to.app.inject({ url: req.url!, headers: ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {} }).then((answer) => {
      if (req.url!.startsWith('/v1/shardmap')) maps.push({ replica: to.name, status: answer.statusCode });
      const etag = answer.headers.etag;
      res.writeHead(answer.statusCode, { 'content-type': 'application/json', ...(etag ? { etag: String(etag) } : {}) }).end(answer.rawPayload);
    });
  });
  return { url: await listenForTest(t, server), route, maps };
}

test('replicas behind at two older versions each send their map once, then answer 304', async (t) => {
  const ahead = await replica(t, 'ahead');
  const one = await replica(t, 'at-v1');
  const two = await replica(t, 'at-v2');
  for (const r of [ahead, one, two]) publish(r, V1);
  nowMs += 1000;
  publish(ahead, V2);
  publish(two, V2);
  nowMs += 1000;
  publish(ahead, V3);
  const svc = await service(t);
  svc.route.push(ahead);
  const client = await ShardMapClient.connect({ baseUrl: svc.url, pollIntervalMs: 0 });
  t.after(() => client.close());
  assert.equal(client.version, V3.version);
  for (let i = 0; i < 3; i++) {
    svc.route.push(one);
    assert.equal(await client.refresh(), false);
    svc.route.push(two);
    assert.equal(await client.refresh(), false);
    svc.route.push(ahead);
    assert.equal(await client.refresh(), false);
  }
  assert.equal(client.version, V3.version);
  const statuses = (name: string): number[] => svc.maps.filter((m) => m.replica === name).map((m) => m.status);
  assert.deepEqual(statuses('at-v1'), [200, 304, 304], 'the replica at v1 sends its map once');
  assert.deepEqual(statuses('at-v2'), [200, 304, 304], 'the replica at v2 sends its map once');
});

test('a recheck that reaches a replica behind is followed by another recheck: the undone change is taken at the next fetch', async (t) => {
  const ahead = await replica(t, 'ahead');
  const behind = await replica(t, 'behind');
  publish(behind, V1);
  publish(ahead, V1);
  nowMs += 1000;
  publish(ahead, V2);
  const svc = await service(t);
  svc.route.push(ahead);
  const client = await ShardMapClient.connect({ baseUrl: svc.url, pollIntervalMs: 0 });
  t.after(() => client.close());
  svc.route.push(behind);
  assert.equal(await client.refresh(), false, 'v1 from the replica behind is older than v2');
  // The change is undone on the replica ahead: no replica serves v2 any more.
  nowMs += 1000;
  publish(ahead, V1);
  for (let i = 0; i < REJECTED_MAP_RECHECK; i++) {
    svc.route.push(i % 2 === 0 ? ahead : behind);
    assert.equal(await client.refresh(), false, 'both replicas answer 304 to the refused tag');
  }
  // The recheck names v2 alone and reaches the replica behind: its v1 is refused again.
  svc.route.push(behind);
  assert.equal(await client.refresh(), false);
  // The next fetch rechecks too, reaches the replica that undid the change, and takes its v1.
  svc.route.push(ahead);
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, V1.version);
});
