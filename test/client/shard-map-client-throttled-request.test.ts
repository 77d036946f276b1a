// A process whose every timer fires late (a CPU-starved cgroup, an event loop blocked for seconds at
// a time by the application's own work): the request's silence timer, armed again at each late fire
// (a pause is not keyway's silence), never ended a request to a silent keyway: it hung until the
// transfer's bound, 5 minutes (hours for a large declared map body), with polling stopped meanwhile.
// A late fire is judged after the I/O that came meanwhile is read, and waits timeoutMs again once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient, KeywayError } from '../../src/client/index.js';
import { listenForTest } from '../support/loopback-server.js';

const map = { version: 'v1', shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] };

test('a silent keyway is cut at timeoutMs even when every timer of the process fires late', async (t) => {
  // The clock as a starved process sees it: each reading 2 s past the previous one, so every timer
  // fires late. Bounded: after THROTTLED readings the process runs on time again.
  const THROTTLED = 200;
  let readings = 0;
  const realNow = performance.now.bind(performance);
  t.mock.method(performance, 'now', () => (readings < THROTTLED ? realNow() + ++readings * 2000 : realNow() + THROTTLED * 2000));
  const server = createServer(() => undefined);
  const baseUrl = await listenForTest(t, server);
  const client = new ShardMapClient({ baseUrl, timeoutMs: 20 });
  t.after(() => client.close());
  let readingsAtEnd = -1;
  await assert.rejects(
    client.refresh().finally(() => (readingsAtEnd = readings)),
    (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && e.message.includes('no answer within 20 ms'),
  );
  assert.ok(readingsAtEnd < THROTTLED, `cut while the process was still throttled (clock readings: ${readingsAtEnd} of ${THROTTLED})`);
});

test('two pauses in a row, the answer arriving during the second: the request is not cut', async (t) => {
  // Blocks the event loop as a pause would: timers due meanwhile fire late, before the I/O phase.
  const pause = (ms: number): void => {
    const until = Date.now() + ms;
    while (Date.now() < until);
  };
  const server = createServer((req, res) => {
    // First pause: nothing comes (the timer fires 1 s late, waits again). Then the answer is sent
    // and the process pauses again past the next timer: that late fire finds the answer unread.
    pause(1300);
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(map));
      pause(1300);
    }, 50);
  });
  const baseUrl = await listenForTest(t, server);
  const client = new ShardMapClient({ baseUrl, timeoutMs: 100 });
  t.after(() => client.close());
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, 'v1');
});
