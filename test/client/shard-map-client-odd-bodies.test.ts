// ShardMapClient reading /v1/shardmap bodies keyway never sends: owner lists that are not lists of
// known ids, dates in forms other than ISO, fields of the wrong type. Each is refused with a message
// that names the value as it was, or (a date) orders nothing, as the Python and Go clients do.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShardMapClient, KeywayError } from '../../src/client/index.js';

/** A keyway stand-in on 127.0.0.1 that answers every request with `body()`. */
async function scriptedKeyway(t: TestContext, body: () => unknown): Promise<string> {
  const server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const endpoint = (id: string, n: number): Record<string, unknown> => ({ id, address: `10.0.0.${n}`, port: 7000 + n });

/** The error refresh() fails with on `body`, or the owners it gives each shard. */
async function read(t: TestContext, body: unknown): Promise<string | string[][]> {
  const client = new ShardMapClient({ baseUrl: await scriptedKeyway(t, () => body), pollIntervalMs: 0 });
  try {
    await client.refresh();
  } catch (err) {
    assert.ok(err instanceof KeywayError && err.code === 'KEYWAY_UNAVAILABLE', String(err));
    return err.message.replace(/^.*not a shard map: /, '');
  } finally {
    client.close();
  }
  return Array.from({ length: client.shardCount! }, (_, s) => client.ownersOfShard(s).map((o) => o.id));
}

test('an owner list is never taken for another one that joins alike', async (t) => {
  const map = (first: unknown[], second: unknown[], endpoints = [endpoint('1', 1), endpoint('n1', 2)]): unknown => ({
    version: 'v1',
    shardCount: 2,
    shards: [
      { shard: 0, owners: first },
      { shard: 1, owners: second },
    ],
    endpoints,
  });
  // Each second list was taken as the first one's owners.
  assert.equal(await read(t, map([], [null])), 'shard 1: unknown owner null');
  assert.equal(await read(t, map(['n1'], [['n1']])), 'shard 1: unknown owner ["n1"]');
  assert.equal(await read(t, map(['1'], [1])), 'shard 1: unknown owner 1');
  // The first unknown owner in the list's order is named.
  assert.equal(await read(t, map(['1'], ['zz', 1])), 'shard 1: unknown owner "zz"');
  // Endpoint ids may hold a newline: ["a\nb"] is the one endpoint `a\nb`, not a then b.
  const ab = [endpoint('a\nb', 1), endpoint('a', 2), endpoint('b', 3)];
  assert.deepEqual(await read(t, map(['a', 'b'], ['a\nb'], ab)), [['a', 'b'], ['a\nb']]);
  assert.deepEqual(await read(t, map(['a\nb'], ['a', 'b'], ab)), [['a\nb'], ['a', 'b']]);
  // Equal lists still resolve alike.
  assert.deepEqual(await read(t, map(['n1', '1'], ['n1', '1'])), [['n1', '1'], ['n1', '1']]);
});

test('a versionSince that is not an ISO date orders nothing: the map is taken', async (t) => {
  const held = '2026-12-09T12:00:00.000Z';
  let next: { version: string; versionSince: string } = { version: 'v0', versionSince: held };
  const baseUrl = await scriptedKeyway(t, () => ({ ...next, shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [endpoint('a', 1)] }));
  const taken = async (versionSince: string): Promise<boolean> => {
    const client = await ShardMapClient.connect({ baseUrl, pollIntervalMs: 0 });
    try {
      next = { version: 'v1', versionSince };
      await client.refresh();
      assert.equal(client.lastError, undefined);
      return client.version === 'v1';
    } finally {
      client.close();
      next = { version: 'v0', versionSince: held };
    }
  };
  // Date.parse reads these (local time, V8's legacy forms, "0" as the year 2000) as earlier than
  // the held map, which refused the map; keyway never sends them.
  for (const text of ['2026/12/08', 'Dec 8 2026', '0', '2026-1-8', 'Tue, 08 Dec 2026 01:00:00 GMT', ' 2026-12-08T01:00:00Z']) {
    assert.equal(await taken(text), true, text);
  }
  // The ISO forms still order: earlier is refused (within the grace), later is taken.
  for (const text of ['2026-12-08T01:00:00.000Z', '2026-12-08', '2026-12-08T01:00Z', '2026-12-08T01:00:00+01:00', '2026-12-08 01:00:00z', '+002026-12-08T01:00:00.000Z']) {
    assert.equal(await taken(text), false, text);
  }
  assert.equal(await taken('2026-12-10'), true);
});

test('a field of the wrong type is named as it is', async (t) => {
  const base = { version: 'v1', shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [endpoint('a', 1)] };
  assert.equal(await read(t, { ...base, shardCount: '3' }), 'shardCount "3"');
  assert.equal(await read(t, { ...base, shardCount: [] }), 'shardCount []');
  assert.equal(await read(t, { ...base, shardCount: {} }), 'shardCount {}');
  assert.equal(await read(t, { ...base, shardCount: undefined }), 'shardCount undefined');
  assert.equal(await read(t, { ...base, shardCount: 1.5 }), 'shardCount 1.5');
  assert.equal(await read(t, { ...base, shardCount: 2, shards: '3' }), 'undefined shards for shardCount 2');
  assert.equal(await read(t, { ...base, shardCount: 2 }), '1 shards for shardCount 2');
  assert.equal(await read(t, [base]), 'not an object');
  assert.equal(await read(t, null), 'not an object');
});
