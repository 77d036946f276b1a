/**
 * The node's HTTP reads (keyway's shard map, a peer's warm entries) are bounded as a whole: a
 * keyway or peer that answers slowly, a few bytes at a time, does not hold a poll or a warm-up
 * past its timeout (the socket's idle timeout restarted with every byte).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getJsonIfChanged } from '../../examples/cache-node/get-json.js';
import { ShardMapPoller } from '../../examples/cache-node/shardmap-poller.js';

/** Answers 200 and then one byte every 50 ms, for at most `forMs`. */
async function trickling(t: { after(fn: () => unknown): void }, forMs: number): Promise<string> {
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"version":"v1","pad":"');
    const started = Date.now();
    const tick = setInterval(() => {
      if (Date.now() - started > forMs || res.destroyed) {
        clearInterval(tick);
        timers.delete(tick);
        res.end('"}');
        return;
      }
      res.write('x');
    }, 50);
    timers.add(tick);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const tick of timers) clearInterval(tick);
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a GET whose answer trickles in fails at its timeout, naming the URL', async (t) => {
  const base = await trickling(t, 4_000);
  const started = Date.now();
  await assert.rejects(getJsonIfChanged(`${base}/v1/shardmap`, 300), (err: Error) => {
    assert.match(err.message, /GET http:\/\/127\.0\.0\.1:\d+\/v1\/shardmap: no answer within 300 ms/);
    return true;
  });
  const took = Date.now() - started;
  assert.ok(took < 1_500, `the GET took ${took} ms with a 300 ms timeout`);
});

test('a keyway that answers slowly fails the poll at its timeout, and the poller polls again', async (t) => {
  const base = await trickling(t, 4_000);
  const errors: string[] = [];
  const poller = new ShardMapPoller({ keywayUrl: base, nodeId: 'n0', intervalMs: 10_000, timeoutMs: 300, onError: (err) => errors.push(err.message) });
  t.after(() => poller.close());
  const started = Date.now();
  assert.equal(await poller.pollOnce(), false);
  assert.ok(Date.now() - started < 1_500, `the poll took ${Date.now() - started} ms with a 300 ms timeout`);
  assert.match(errors[0] ?? '', /no answer within 300 ms/);
});
