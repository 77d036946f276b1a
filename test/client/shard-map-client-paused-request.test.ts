// An application paused (SIGSTOP, a throttled cgroup, a VM or laptop asleep) while a request to
// keyway is in flight: keyway's answer arrives during the pause, and on resume the request's
// timeoutMs timer, run before I/O, fired first and cut it ("no answer within N ms"): an onError and a
// backoff step for an answer that was there. A timer that fires STALL_MIN_MS late waits again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient, KeywayError } from '../../src/client/index.js';
import { listenForTest } from '../support/loopback-server.js';

const map = { version: 'v1', shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] };

test('a request whose timeoutMs timer fires late (the process was paused) is not cut: it waits timeoutMs again', async (t) => {
  // performance.now() as the paused process sees it: real time plus the pause.
  let paused = 0;
  const realNow = performance.now.bind(performance);
  t.mock.method(performance, 'now', () => realNow() + paused);
  const server = createServer((req, res) => {
    // The process is paused for 5 s as its request arrives; the answer is ready 1.5 s (real) later,
    // after the 1 s timer fired (5 s late by the process's clock) and before a second one would.
    paused += 5000;
    setTimeout(() => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(map)), 1500);
  });
  const baseUrl = await listenForTest(t, server);
  const client = new ShardMapClient({ baseUrl, timeoutMs: 1000 });
  t.after(() => client.close());
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, 'v1');
});

test('a request to a keyway that stays silent is still cut at timeoutMs when the process runs on time', async (t) => {
  const server = createServer(() => undefined);
  const baseUrl = await listenForTest(t, server);
  const client = new ShardMapClient({ baseUrl, timeoutMs: 300 });
  t.after(() => client.close());
  await assert.rejects(client.refresh(), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && e.message.includes('no answer within 300 ms'));
});
