// An application paused for a minute (SIGSTOP, a throttled cgroup, a VM live migration) heard from
// no keyway replica meanwhile: that time does not age the hold on the map it uses (HELD_MAP_GRACE_MS,
// docs/clients.md "Several keyway replicas"). Counted, its first poll after the pause that reached a
// replica behind took that replica's older map, and the next poll reaching the other went back.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient } from '../../src/client/index.js';
import { HELD_MAP_GRACE_MS } from '../../src/client/shard-map-client.js';
import { listenForTest } from '../support/loopback-server.js';
import { eventually } from '../support/eventually.js';

interface Replica {
  readonly version: string;
  readonly versionSince: string;
  readonly etag: string;
  readonly owner: string;
}

const older: Replica = { version: 'vA', versionSince: '2026-01-01T00:00:00.000Z', etag: 'W/"aaaa"', owner: 'a' };
const newer: Replica = { version: 'vB', versionSince: '2026-01-01T00:00:05.000Z', etag: 'W/"bbbb"', owner: 'b' };

/** A Service over two replicas: every request goes to `at.replica`. */
async function service(t: TestContext, at: { replica: Replica; requests: number }): Promise<string> {
  const server = createServer((req, res) => {
    at.requests++;
    const r = at.replica;
    if (req.url === '/readyz') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: true, status: 'ready', reasons: [], version: r.version }));
    if (req.headers['if-none-match'] === r.etag) return void res.writeHead(304, { etag: r.etag }).end();
    const body = { version: r.version, versionSince: r.versionSince, shardCount: 1, shards: [{ shard: 0, owners: [r.owner] }], endpoints: [{ id: r.owner, address: '127.0.0.1', port: 7000 }] };
    res.writeHead(200, { 'content-type': 'application/json', etag: r.etag }).end(JSON.stringify(body));
  });
  return listenForTest(t, server);
}

test('a poll after a 60 s pause does not take an older replica\'s map', async (t) => {
  const at = { replica: newer, requests: 0 };
  const baseUrl = await service(t, at);
  // performance.now() as the paused process sees it: real time plus the pause.
  let paused = 0;
  const realNow = performance.now.bind(performance);
  t.mock.method(performance, 'now', () => realNow() + paused);
  const client = await ShardMapClient.connect({ baseUrl, pollIntervalMs: 2000 });
  t.after(() => client.close());
  assert.equal(client.version, 'vB');
  const seen = at.requests;
  await eventually('a poll answered by the newer replica', () => (at.requests > seen ? true : undefined));
  // Stopped for twice the grace while the next poll waits (due 1800 to 2200 ms after the last, so a
  // loaded machine's late timer still sets the pause before it starts); on resume the poll reaches
  // the replica behind.
  await new Promise((r) => setTimeout(r, 100));
  at.replica = older;
  paused = 2 * HELD_MAP_GRACE_MS;
  const resumed = at.requests;
  await eventually('two polls after the pause', () => (at.requests >= resumed + 4 ? true : undefined), { timeoutMs: 20_000 });
  assert.equal(client.version, 'vB', 'the map in use is kept: no replica was heard from during the pause, none was found gone');
});
