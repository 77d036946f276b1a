/**
 * `/v1/drain` with the REST ownership source: waiters share one watch of keyway's shard map, so a
 * burst of drain calls (an unauthenticated GET) does not multiply the node's polls of keyway.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCacheNodeServer } from '../../../examples/cache-node/server.js';
import { eventually } from '../../support/eventually.js';

const S = 8;

test('concurrent /v1/drain waits share one watch of the shard map, and all answer once the node is handed off', async (t) => {
  let owners = ['d0'];
  let polls = 0;
  const keyway = http.createServer((_req, res) => {
    polls++;
    const version = owners.join(',') || 'none';
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version, shardCount: S, shards: Array.from({ length: S }, (_, shard) => ({ shard, owners })) }));
  });
  await new Promise<void>((resolve) => keyway.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => keyway.close(() => resolve())));
  const node = await startCacheNodeServer({ id: 'd0', keywayUrl: `http://127.0.0.1:${(keyway.address() as AddressInfo).port}`, pollIntervalMs: 60_000 });
  t.after(() => node.close());
  await eventually('ownership', () => node.ownership());

  // 30 waits started 10 ms apart (their own polls do not overlap), 1.2 s each while the node keeps its shards.
  const before = polls;
  const waits: Promise<unknown>[] = [];
  for (let i = 0; i < 30; i++) {
    waits.push(fetch(`${node.url}/v1/drain?timeoutMs=1200`).then((r) => r.json()));
    await sleep(10);
  }
  assert.deepEqual(await Promise.all(waits), Array.from({ length: 30 }, () => ({ handedOff: false })));
  // One poll each to start, then one shared poll every 250 ms: about 36. Each polling on its own made about 150.
  assert.ok(polls - before <= 60, `${polls - before} polls of keyway for 30 drain waits`);

  // Handed off: every waiter hears it from the shared watch.
  const late = Array.from({ length: 5 }, () => fetch(`${node.url}/v1/drain?timeoutMs=10000`).then((r) => r.json()));
  await sleep(100);
  owners = [];
  const started = Date.now();
  assert.deepEqual(await Promise.all(late), Array.from({ length: 5 }, () => ({ handedOff: true })));
  assert.ok(Date.now() - started < 2_000);
});
