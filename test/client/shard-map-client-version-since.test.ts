// ShardMapClient behind a Service over two keyway replicas, one behind the other, where the one
// behind republishes its older map (a reload that changes nothing in it, a handoff step): its
// `updatedAt` is then later than the newer replica's, but its `versionSince` is not. The client
// orders maps by `versionSince`, so it stays on the newer map; by `updatedAt` it flipped back to the
// older one at each republish. Real admin apps on injected clocks; no timing assertion.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { ShardMapClient } from '../../src/client/index.js';
import { listenForTest } from '../support/loopback-server.js';
import { policy, V1, V2 } from './two-maps.js';


/** One wall clock the replicas share, moved by hand. */
let nowMs = Date.parse('2026-01-01T00:00:00.000Z');
const clock = (): Date => new Date(nowMs);
const later = (ms: number): void => void (nowMs += ms);

interface Replica {
  readonly state: ServingState;
  readonly app: FastifyInstance;
}

async function replica(t: TestContext): Promise<Replica> {
  const state = new ServingState(clock);
  const app = await buildAdminApp(state);
  t.after(() => app.close());
  return { state, app };
}

const publish = (r: Replica, map: ShardMap): void => void r.state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });

/** A Service in front of the replicas: each request goes to the next one in `route`. */
async function service(t: TestContext, route: Replica[]): Promise<string> {
  const server = createServer((req, res) => {
    const to = route.shift();
    if (!to) return void res.writeHead(599).end();
    const headers = req.headers['if-none-match'] ? { 'if-none-match': req.headers['if-none-match'] } : {};
    void to.app.inject({ url: req.url!, headers }).then((answer) => {
      const etag = answer.headers.etag;
      res.writeHead(answer.statusCode, { 'content-type': 'application/json', ...(etag ? { etag: String(etag) } : {}) }).end(answer.rawPayload);
    });
  });
  return listenForTest(t, server);
}

test('the replica behind republishes its older map with a fresh updatedAt: the client never goes back to it', async (t) => {
  const ahead = await replica(t);
  const behind = await replica(t);
  publish(ahead, V1);
  publish(behind, V1);
  later(1000);
  publish(ahead, V2);
  const route: Replica[] = [ahead];
  const updates: string[] = [];
  const client = await ShardMapClient.connect({ baseUrl: await service(t, route), pollIntervalMs: 0, onUpdate: (c) => updates.push(c.version!) });
  t.after(() => client.close());
  assert.equal(client.version, V2.version);
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) {
    // The replica behind republishes v1 (nothing in the map changed) after the one ahead took v2.
    later(1000);
    publish(behind, V1);
    assert.ok(behind.state.current()!.updatedAt > ahead.state.current()!.updatedAt, "the replica behind published last");
    route.push(behind, ahead);
    assert.equal(await client.refresh(), false, 'the older map is not taken');
    seen.push(client.version!);
    await client.refresh();
    seen.push(client.version!);
  }
  assert.deepEqual(seen, Array(8).fill(V2.version), 'no flip back to the replica behind');
  assert.deepEqual(updates, []);
  assert.equal(client.lastError, undefined);
  assert.equal(client.ownersOfShard(0)[0]!.id, V2.owners[0]![0]);
});

test('a change undone (v1 -> v2 -> v1) on the replicas is taken: its version came into force after v2', async (t) => {
  const ahead = await replica(t);
  publish(ahead, V1);
  later(1000);
  publish(ahead, V2);
  const route: Replica[] = [ahead];
  const client = await ShardMapClient.connect({ baseUrl: await service(t, route), pollIntervalMs: 0 });
  t.after(() => client.close());
  assert.equal(client.version, V2.version);
  later(1000);
  publish(ahead, V1);
  route.push(ahead);
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, V1.version);
});

test('an older keyway without versionSince is still ordered by updatedAt', async (t) => {
  const bodies = [
    { version: 'vB', updatedAt: '2026-01-01T00:00:05.000Z' },
    { version: 'vA', updatedAt: '2026-01-01T00:00:01.000Z' },
    { version: 'vA', updatedAt: '2026-01-01T00:00:09.000Z' },
  ];
  const server = createServer((_req, res) => {
    const b = bodies.shift()!;
    const body = { ...b, shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  const client = await ShardMapClient.connect({ baseUrl: await listenForTest(t, server), pollIntervalMs: 0 });
  t.after(() => client.close());
  assert.equal(await client.refresh(), false, 'an earlier updatedAt is older');
  assert.equal(client.version, 'vB');
  assert.equal(await client.refresh(), true, 'a later updatedAt is newer');
  assert.equal(client.version, 'vA');
});
