/**
 * Closing the example cache node ends what it started: a `/v1/drain` wait over the REST ownership
 * source stops polling keyway and lets go of its timers, so a process (a test runner, a benchmark)
 * that closed its nodes can exit, and keyway is not polled by a node that is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardMapPoller } from '../../examples/cache-node/shardmap-poller.js';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';
import { eventually } from '../support/eventually.js';

const S = 8;

async function fakeKeyway(t: { after(fn: () => unknown): void }): Promise<{ url: string; polls: () => number }> {
  let polls = 0;
  const keyway = http.createServer((_req, res) => {
    polls++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version: 'v1', shardCount: S, shards: Array.from({ length: S }, (_, shard) => ({ shard, owners: ['c0'] })) }));
  });
  await new Promise<void>((resolve) => keyway.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => keyway.close(() => resolve())));
  return { url: `http://127.0.0.1:${(keyway.address() as AddressInfo).port}`, polls: () => polls };
}

test('closing the node stops a pending /v1/drain from polling keyway', async (t) => {
  const keyway = await fakeKeyway(t);
  const node = await startCacheNodeServer({ id: 'c0', keywayUrl: keyway.url, pollIntervalMs: 60_000 });
  await eventually('ownership', () => node.ownership());
  const drain = fetch(`${node.url}/v1/drain?timeoutMs=5000`).catch(() => undefined);
  await eventually('the drain watch polls keyway', () => keyway.polls() >= 3);
  await node.close();
  await drain;
  const afterClose = keyway.polls();
  await sleep(800); // three watch periods (250 ms)
  assert.equal(keyway.polls() - afterClose, 0, 'polls of keyway after the node closed');
});

test("the poller's close resolves a pending waitForHandoff with false at once", async (t) => {
  const keyway = await fakeKeyway(t);
  const poller = new ShardMapPoller({ keywayUrl: keyway.url, nodeId: 'c0', intervalMs: 60_000 });
  poller.start();
  await eventually('ownership', () => poller.current());
  const waiting = poller.waitForHandoff(3_000);
  await sleep(50);
  const started = Date.now();
  await poller.close();
  assert.equal(await waiting, false);
  assert.ok(Date.now() - started < 1_000, `waitForHandoff answered ${Date.now() - started} ms after close`);
  assert.equal(await poller.waitForHandoff(60_000), false, 'a wait asked after close answers false at once');
});
