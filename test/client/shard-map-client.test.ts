// ShardMapClient against a real keyway in the test process: it learns S and the owners from
// GET /v1/shardmap, follows a topology change through GET /readyz polling, keeps the last good map
// when keyway goes away, and reports failures as typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShardMapClient, shardFor, KeywayError } from '../../src/client/index.js';
import type { LookupBody, ShardMapBody } from '../../src/admin/api-types.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../../e2e/support/ports.js';

const KEYS = ['user:1000', '{user:42}:profile', '{user:42}:cart', 'ключ', '🔑emoji', 'embedding/v2/doc-8812/chunk-3', ''];

async function getJson<T>(base: string, route: string): Promise<T> {
  return (await (await fetch(new URL(route, base))).json()) as T;
}

/** The client agrees with keyway's own lookup for every key, owners and addresses included. */
async function assertAgrees(client: ShardMapClient, base: string): Promise<void> {
  const map = await getJson<ShardMapBody>(base, 'v1/shardmap');
  assert.equal(client.version, map.version);
  assert.equal(client.shardCount, map.shardCount);
  for (const key of KEYS) {
    const lookup = await getJson<LookupBody>(base, `v1/lookup?key=${encodeURIComponent(key)}`);
    assert.equal(client.shardFor(key), lookup.shard, key);
    const owners = client.owners(key);
    assert.deepEqual(owners.map((o) => o.id), lookup.owners, key);
    for (const o of owners) {
      const e = map.endpoints.find((x) => x.id === o.id)!;
      assert.deepEqual(o, { id: e.id, address: e.address, port: e.port });
    }
  }
}

test('ShardMapClient learns the map, then follows a topology change by polling /readyz', async (t) => {
  const keyway = await startKeywayInProcess(t, topologyText({ shards: 64, replicas: 2 }));
  const base = `http://127.0.0.1:${keyway.server.httpPort}/`;
  const updates: string[] = [];
  const client = await ShardMapClient.connect({ baseUrl: base, pollIntervalMs: 50, onUpdate: (c) => updates.push(c.version!) });
  t.after(() => client.close());

  assert.equal(client.shardCount, 64);
  assert.equal(client.shardFor('user:1000'), shardFor('user:1000', 64));
  await assertAgrees(client, base);
  const before = client.version!;
  assert.equal(await client.refresh(), false, 'same version: no change');

  // A fourth node, heavier than the others, and a new port for e0: new version, new owners.
  const next = topologyText({ shards: 64, replicas: 2, ready: [true, true, true, true], weights: [10, 10, 10, 40] }).replace('port: 7100', 'port: 7200');
  await keyway.topo.write(next);
  await eventually('the client to pick up the new version', () => client.version !== before, { timeoutMs: 8000 });
  await assertAgrees(client, base);
  assert.deepEqual(updates, [client.version]);
  assert.ok(client.ownersOfShard(0).length === 2);
  assert.ok([...Array(64).keys()].some((s) => client.ownersOfShard(s)[0]!.id === 'e3'), 'e3 leads some shards');
  assert.ok([...Array(64).keys()].flatMap((s) => client.ownersOfShard(s)).filter((o) => o.id === 'e0').every((o) => o.port === 7200));
  assert.throws(() => client.ownersOfShard(64), (e: KeywayError) => e.code === 'BAD_ARGUMENT');
  assert.equal(client.lastError, undefined);
});

test('ShardMapClient keeps the last good map when keyway stops answering, and reports KEYWAY_UNAVAILABLE', async (t) => {
  // REST on a port below the ephemeral range, so that once keyway stops nothing beside this test
  // can be handed it and answer the client's polls.
  const keyway = await startKeywayInProcess(t, topologyText({ shards: 32 }), { httpPort: await freePort() });
  const base = `http://127.0.0.1:${keyway.server.httpPort}/`;
  const errors: KeywayError[] = [];
  const client = await ShardMapClient.connect({ baseUrl: base, pollIntervalMs: 50, timeoutMs: 1000, onError: (e) => errors.push(e) });
  t.after(() => client.close());
  const version = client.version;
  const owners = client.owners('user:1000');

  await keyway.server.close();
  await eventually('a failed poll', () => errors.length > 0);
  assert.ok(errors.every((e) => e instanceof KeywayError && e.code === 'KEYWAY_UNAVAILABLE'), String(errors[0]));
  assert.equal(client.lastError?.code, 'KEYWAY_UNAVAILABLE');
  assert.equal(client.version, version);
  assert.deepEqual(client.owners('user:1000'), owners);
  await assert.rejects(client.refresh(), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE');
  assert.equal(client.version, version, 'still the last good map');
});

test('ShardMapClient errors: nothing listening, a timeout, not keyway, keyway without a map', async (t) => {
  // A free port from below the ephemeral range (no port-0 listener beside this test can take it):
  // connection refused.
  const closedPort = await freePort();
  await assert.rejects(ShardMapClient.connect({ baseUrl: `http://127.0.0.1:${closedPort}` }), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE');

  // A server that answers slowly, HTML, or keyway's 503 error body.
  let mode: 'slow' | 'html' | 'nomap' | 'bad-map' = 'slow';
  const server = createServer((req, res) => {
    if (mode === 'slow') return void setTimeout(() => res.end('{}'), 2000).unref();
    if (mode === 'html') return void res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
    if (mode === 'bad-map') return void res.end(JSON.stringify({ version: 'v', shardCount: 4, shards: [], endpoints: [] }));
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'SOURCE_UNAVAILABLE', message: 'no shard map yet: no valid topology has been loaded' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const started = Date.now();
  await assert.rejects(ShardMapClient.connect({ baseUrl, timeoutMs: 200 }), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && /within 200 ms/.test(e.message));
  assert.ok(Date.now() - started < 1500, 'bounded by the timeout');
  mode = 'html';
  await assert.rejects(ShardMapClient.connect({ baseUrl }), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && /not JSON/.test(e.message));
  mode = 'nomap';
  await assert.rejects(ShardMapClient.connect({ baseUrl }), (e: KeywayError) => e.code === 'SOURCE_UNAVAILABLE');
  mode = 'bad-map';
  await assert.rejects(ShardMapClient.connect({ baseUrl }), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && /not a shard map/.test(e.message));

  const idle = new ShardMapClient({ baseUrl, pollIntervalMs: 0 });
  assert.equal(idle.version, undefined);
  assert.throws(() => idle.owners('k'), (e: KeywayError) => e.code === 'SOURCE_UNAVAILABLE');
  assert.throws(() => new ShardMapClient({ baseUrl, timeoutMs: -1 }), (e: KeywayError) => e.code === 'BAD_ARGUMENT');
});
