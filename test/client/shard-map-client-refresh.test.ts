// ShardMapClient.refresh() answers with a map fetched by a request that started at or after the
// call: a caller that learned of a newer version while an older fetch was in flight waits for one
// more fetch (shared by all such callers) rather than taking the older answer, which with polling
// off nothing would ever correct.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient, KeywayError } from '../../src/client/index.js';
import { eventually } from '../support/eventually.js';
import { listenForTest } from '../support/loopback-server.js';

interface Fake {
  baseUrl: string;
  version: string;
  /** Hold the next /v1/shardmap answer (with the version it arrived at) until `release()`. */
  holdNext: boolean;
  held: (() => void)[];
  fetches: number;
}

async function fakeKeyway(t: TestContext): Promise<Fake> {
  const fake: Fake = { baseUrl: '', version: 'v1', holdNext: false, held: [], fetches: 0 };
  const server = createServer((req, res) => {
    assert.equal(req.url, '/v1/shardmap');
    fake.fetches++;
    // The map as it is when the request arrives, answered now or when released.
    const body = JSON.stringify({ version: fake.version, shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] });
    const send = (): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    if (!fake.holdNext) return send();
    fake.holdNext = false;
    fake.held.push(send);
  });
  fake.baseUrl = await listenForTest(t, server);
  return fake;
}

test('ShardMapClient.refresh() called while an older fetch is in flight resolves with a newer map; late callers share one extra request', async (t) => {
  const fake = await fakeKeyway(t);
  const client = await ShardMapClient.connect({ baseUrl: fake.baseUrl, pollIntervalMs: 0 });
  t.after(() => client.close());
  assert.equal(client.version, 'v1');

  fake.version = 'vA';
  fake.holdNext = true;
  const first = client.refresh();
  await eventually('the slow request to arrive', () => fake.held.length === 1);
  // The map moves on while vA is on its way; the application learns of it (a header, a 409) and refreshes.
  fake.version = 'vB';
  const late = Array.from({ length: 5 }, () => client.refresh());
  fake.held[0]!();

  assert.equal(await first, true);
  assert.deepEqual(await Promise.all(late), [true, true, true, true, true], 'each late caller sees the map change from v1');
  assert.equal(client.version, 'vB');
  assert.equal(fake.fetches, 3, 'connect, the slow fetch, and one follow-up for all five late callers');

  // Nothing in flight: a refresh is one request of its own again.
  assert.equal(await client.refresh(), false);
  assert.equal(fake.fetches, 4);
});

test('ShardMapClient.close() rejects a refresh() waiting for its follow-up fetch, which never starts', async (t) => {
  const fake = await fakeKeyway(t);
  const errors: KeywayError[] = [];
  const client = await ShardMapClient.connect({ baseUrl: fake.baseUrl, pollIntervalMs: 0, onError: (e) => errors.push(e) });
  t.after(() => client.close());

  fake.holdNext = true;
  const first = client.refresh();
  await eventually('the slow request to arrive', () => fake.held.length === 1);
  const late = client.refresh();
  client.close();
  const closed = (e: KeywayError): boolean => e.code === 'KEYWAY_UNAVAILABLE' && /v1\/shardmap: the client was closed/.test(e.message);
  await assert.rejects(first, closed);
  await assert.rejects(late, closed);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fake.fetches, 2, 'no fetch after close()');
  assert.deepEqual(errors, []);
});
