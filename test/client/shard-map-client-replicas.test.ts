// ShardMapClient behind a Service over keyway replicas at different versions (a handoff step one
// replica took first, an informer behind): polls reach one replica or the other. The client sends
// the ETag of the map it holds (a replica with that map answers 304, no body) and never goes back
// to a map older (`updatedAt`) than the one it uses: flipping between two maps poll after poll is
// worse than staying on the newer one.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient } from '../../src/client/index.js';
import { listenForTest } from '../support/loopback-server.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { topologyText } from '../serve/support.js';

interface Replica {
  readonly version: string;
  readonly updatedAt: string;
  readonly etag: string;
  readonly owner: string;
}

const older: Replica = { version: 'vA', updatedAt: '2026-01-01T00:00:00.000Z', etag: 'W/"aaaa"', owner: 'a' };
const newer: Replica = { version: 'vB', updatedAt: '2026-01-01T00:00:05.000Z', etag: 'W/"bbbb"', owner: 'b' };

interface Service {
  baseUrl: string;
  /** The replica each next request goes to, in turn. */
  next: Replica[];
  /** If-None-Match of each /v1/shardmap request, and what was answered. */
  readonly seen: { ifNoneMatch: string | undefined; status: number }[];
}

async function service(t: TestContext): Promise<Service> {
  const svc: Service = { baseUrl: '', next: [], seen: [] };
  const server = createServer((req, res) => {
    const r = svc.next.shift() ?? newer;
    if (req.url === '/readyz') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: true, status: 'ready', reasons: [], version: r.version }));
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch === r.etag) {
      svc.seen.push({ ifNoneMatch, status: 304 });
      return void res.writeHead(304, { etag: r.etag }).end();
    }
    svc.seen.push({ ifNoneMatch, status: 200 });
    const body = { version: r.version, shardCount: 1, shards: [{ shard: 0, owners: [r.owner] }], endpoints: [{ id: r.owner, address: '127.0.0.1', port: 7000 }], updatedAt: r.updatedAt };
    res.writeHead(200, { 'content-type': 'application/json', etag: r.etag }).end(JSON.stringify(body));
  });
  svc.baseUrl = await listenForTest(t, server);
  return svc;
}

test('a refresh names the held map by its ETag: a replica that has it answers 304 and the map stays', async (t) => {
  const svc = await service(t);
  svc.next = [newer, newer];
  const client = await ShardMapClient.connect({ baseUrl: svc.baseUrl, pollIntervalMs: 0 });
  t.after(() => client.close());
  assert.equal(await client.refresh(), false);
  assert.deepEqual(svc.seen, [
    { ifNoneMatch: undefined, status: 200 },
    { ifNoneMatch: newer.etag, status: 304 },
  ]);
  assert.equal(client.version, 'vB');
  assert.equal(client.lastError, undefined);
});

test('replicas at two versions answering in turn: the client moves to the newer map and never back to the older', async (t) => {
  const svc = await service(t);
  svc.next = [older, newer, older, newer, older];
  const updates: string[] = [];
  const client = await ShardMapClient.connect({ baseUrl: svc.baseUrl, pollIntervalMs: 0, onUpdate: (c) => updates.push(c.version!) });
  t.after(() => client.close());
  assert.equal(client.version, 'vA');
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, 'vB');
  const after: string[] = [];
  for (let i = 0; i < 3; i++) {
    await client.refresh();
    after.push(client.version!);
  }
  assert.deepEqual(after, ['vB', 'vB', 'vB'], 'no flip back to the older replica\'s map');
  assert.deepEqual(updates, ['vB']);
  assert.equal(client.ownersOfShard(0)[0]!.id, 'b');
  assert.equal(client.lastError, undefined, 'an older replica is no failure');
});

test('a map with a later updatedAt is taken even when its version was held before (a change undone)', async (t) => {
  const svc = await service(t);
  const undone: Replica = { ...older, updatedAt: '2026-01-01T00:00:09.000Z' };
  svc.next = [older, newer, undone];
  const client = await ShardMapClient.connect({ baseUrl: svc.baseUrl, pollIntervalMs: 0 });
  t.after(() => client.close());
  await client.refresh();
  assert.equal(client.version, 'vB');
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, 'vA');
});

test('against keyway itself: a refresh of an unchanged map is a 304 with no body', async (t) => {
  const keyway = await startKeywayInProcess(t, topologyText({ shards: 64, replicas: 2 }));
  const statuses: number[] = [];
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const res = await original(input, init);
    if (String(input).endsWith('/v1/shardmap')) statuses.push(res.status);
    return res;
  };
  t.after(() => void (globalThis.fetch = original));
  const client = await ShardMapClient.connect({ baseUrl: `http://127.0.0.1:${keyway.server.httpPort}/`, pollIntervalMs: 0 });
  t.after(() => client.close());
  const version = client.version;
  assert.equal(await client.refresh(), false);
  assert.deepEqual(statuses, [200, 304]);
  assert.equal(client.version, version);
  assert.equal(client.shardCount, 64);
});
