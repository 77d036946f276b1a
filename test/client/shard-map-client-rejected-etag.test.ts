// ShardMapClient behind a Service over two keyway replicas that stay at different versions (one's
// Kubernetes watch is cut: it serves its last map, stale but ready). The client holds the newer map
// and rejects the older one each time a poll reaches the replica behind. Once it has rejected that
// map it names it in If-None-Match too, so the replica behind answers 304 rather than the whole map
// again at every such poll (thousands of clients each downloading a map of megabytes a second, for
// as long as the replicas disagree). Replicas behind at two older versions each answer 304 after
// their first answer; a recheck (the held map named alone) that reaches a replica behind is followed
// by another recheck. Real admin apps on injected clocks; outcomes only, no timing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { ShardMapClient } from '../../src/client/index.js';
import { HELD_MAP_GRACE_MS, REJECTED_MAP_RECHECK } from '../../src/client/shard-map-client.js';
import { listenForTest } from '../support/loopback-server.js';
import { policy, V1, V2, V3 } from './two-maps.js';


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

interface Service {
  readonly url: string;
  /** The replica each next request goes to, in turn. */
  readonly route: Replica[];
  /** Each `/v1/shardmap` request: the replica, its If-None-Match and the status answered. */
  readonly maps: { replica: string; ifNoneMatch: string | undefined; status: number }[];
}

async function service(t: TestContext): Promise<Service> {
  const route: Replica[] = [];
  const maps: Service['maps'] = [];
  const server = createServer((req, res) => {
    const to = route.shift();
    if (!to) return void res.writeHead(599).end();
    const ifNoneMatch = req.headers['if-none-match'];
    void to.app.inject({ url: req.url!, headers: ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {} }).then((answer) => {
      if (req.url!.startsWith('/v1/shardmap')) maps.push({ replica: to.name, ifNoneMatch, status: answer.statusCode });
      const etag = answer.headers.etag;
      res.writeHead(answer.statusCode, { 'content-type': 'application/json', ...(etag ? { etag: String(etag) } : {}) }).end(answer.rawPayload);
    });
  });
  return { url: await listenForTest(t, server), route, maps };
}

/** Two replicas at V1, then the one ahead at V2 a second later; the Service's next request goes to it. */
async function aheadAndBehind(t: TestContext): Promise<{ ahead: Replica; behind: Replica; svc: Service }> {
  const ahead = await replica(t, 'ahead');
  const behind = await replica(t, 'behind');
  publish(behind, V1);
  publish(ahead, V1);
  nowMs += 1000;
  publish(ahead, V2);
  const svc = await service(t);
  svc.route.push(ahead);
  return { ahead, behind, svc };
}

/**
 * aheadAndBehind, a client that holds V2 and has refused V1 from the replica behind, then the change
 * undone on the replica ahead (it publishes V1 again): no replica serves V2 any more.
 */
async function refusedThenUndone(t: TestContext): Promise<{ ahead: Replica; behind: Replica; svc: Service; client: ShardMapClient }> {
  const { ahead, behind, svc } = await aheadAndBehind(t);
  const client = await ShardMapClient.connect({ baseUrl: svc.url, pollIntervalMs: 0 });
  t.after(() => client.close());
  svc.route.push(behind);
  assert.equal(await client.refresh(), false, 'v1 from the replica behind is older than v2');
  nowMs += 1000;
  publish(ahead, V1);
  return { ahead, behind, svc, client };
}

test('a map rejected as older is not downloaded again at every fetch that reaches the replica behind', async (t) => {
  const { ahead, behind, svc } = await aheadAndBehind(t);
  const client = await ShardMapClient.connect({ baseUrl: svc.url, pollIntervalMs: 0 });
  t.after(() => client.close());
  assert.equal(client.version, V2.version);
  for (let i = 0; i < 5; i++) {
    svc.route.push(behind);
    assert.equal(await client.refresh(), false, 'the older map is not taken');
    svc.route.push(ahead);
    assert.equal(await client.refresh(), false);
  }
  assert.equal(client.version, V2.version);
  assert.equal(client.lastError, undefined);
  const fromBehind = svc.maps.filter((m) => m.replica === 'behind');
  assert.deepEqual(
    fromBehind.map((m) => m.status),
    [200, 304, 304, 304, 304],
    'the replica behind sends its map once; then it answers 304 to the tags the client names',
  );
  assert.deepEqual(
    svc.maps.filter((m) => m.replica === 'ahead').map((m) => m.status),
    [200, 304, 304, 304, 304, 304],
    'the replica ahead still answers 304 to the held map',
  );
});

test('past the grace without a replica serving the held map, the older map is fetched in full and taken', async (t) => {
  const { behind, svc } = await aheadAndBehind(t);
  // The grace is measured on performance.now(): a real wait would take 30 s, so the test reads
  // the clock the client reads and moves it.
  let shiftMs = 0;
  const realNow = performance.now.bind(performance);
  t.mock.method(performance, 'now', () => realNow() + shiftMs);
  const updates: string[] = [];
  const client = await ShardMapClient.connect({ baseUrl: svc.url, pollIntervalMs: 0, onUpdate: (c) => updates.push(c.version!) });
  t.after(() => client.close());
  svc.route.push(behind, behind);
  assert.equal(await client.refresh(), false);
  assert.equal(await client.refresh(), false);
  // The replicas that had V2 are gone: past the grace the older map is what keyway serves.
  shiftMs += HELD_MAP_GRACE_MS + 1;
  svc.route.push(behind);
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, V1.version);
  assert.deepEqual(updates, [V1.version]);
  assert.deepEqual(
    svc.maps.filter((m) => m.replica === 'behind').map((m) => m.status),
    [200, 304, 200],
    'once the grace is over the client names only the map it holds, so the older one comes in full',
  );
});

test('a change undone on the replicas after the client refused the older map is taken within REJECTED_MAP_RECHECK fetches', async (t) => {
  // A node flapped: the replica ahead published v2 then v1 again; the one behind folded the flap
  // into no change and stayed on v1 all along.
  const { ahead, behind, svc, client } = await refusedThenUndone(t);
  let fetches = 0;
  while (client.version !== V1.version && fetches <= REJECTED_MAP_RECHECK + 1) {
    svc.route.push(fetches % 2 === 0 ? ahead : behind);
    await client.refresh();
    fetches++;
  }
  assert.equal(client.version, V1.version, 'the undone change is taken: no replica serves v2 any more');
  assert.ok(fetches <= REJECTED_MAP_RECHECK + 1, `taken after ${fetches} fetches`);
});

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
  const { ahead, behind, svc, client } = await refusedThenUndone(t);
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
