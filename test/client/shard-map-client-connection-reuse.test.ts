// A ShardMapClient left running for weeks does not keep its first connection to keyway for ever:
// polls (1 s) come more often than keyway's keep-alive timeout (72 s), so one connection served
// every request for as long as that keyway process lived, and keyway's name was never resolved
// again (a DNS change was not followed while the old address answered). After
// MAX_CONNECTION_REUSE_MS one request asks keyway to close the connection; the next opens a new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient } from '../../src/client/index.js';
import { MAX_CONNECTION_REUSE_MS } from '../../src/client/shard-map-client.js';
import { listenForTest } from '../support/loopback-server.js';
import { eventually } from '../support/eventually.js';

test('ShardMapClient renews its connection to keyway after MAX_CONNECTION_REUSE_MS, once per period', async (t) => {
  let sockets = 0;
  const seen: { socket: number; connection: string | undefined }[] = [];
  const server = createServer((req, res) => {
    seen.push({ socket: (req.socket as unknown as { n: number }).n, connection: req.headers.connection });
    const send = (body: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/readyz') return send({ ready: true, status: 'ready', reasons: [], version: 'v1', shardCount: 1 });
    send({ version: 'v1', shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] });
  });
  server.keepAliveTimeout = 72_000; // keyway's (REST_KEEP_ALIVE_TIMEOUT_MS)
  server.on('connection', (socket) => void ((socket as unknown as { n: number }).n = ++sockets));
  const baseUrl = await listenForTest(t, server);

  // The clock the client reads, moved ahead below as weeks of running would move it.
  let ahead = 0;
  const realNow = performance.now.bind(performance);
  t.mock.method(performance, 'now', () => realNow() + ahead);
  const client = await ShardMapClient.connect({ baseUrl, pollIntervalMs: 10 });
  t.after(() => client.close());

  await eventually('ten polls', () => seen.length >= 11);
  assert.deepEqual(new Set(seen.map((r) => r.socket)), new Set([1]), 'one connection while it is young');
  assert.ok(seen.every((r) => r.connection !== 'close'));

  ahead = MAX_CONNECTION_REUSE_MS;
  await eventually('a request that closes the connection', () => seen.some((r) => r.connection === 'close'));
  const closedAt = seen.findIndex((r) => r.connection === 'close');
  await eventually('ten more polls', () => seen.length >= closedAt + 11);
  const after = seen.slice(closedAt + 1);
  assert.ok(after.every((r) => r.socket > seen[closedAt]!.socket), `requests after the close reuse no old connection: ${JSON.stringify(after)}`);
  assert.equal(seen.filter((r) => r.connection === 'close').length, 1, 'once per period, not at every request');
  assert.equal(new Set(after.map((r) => r.socket)).size, 1, 'the new connection is reused');
});
