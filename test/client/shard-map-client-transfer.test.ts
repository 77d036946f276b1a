// ShardMapClient's timeoutMs bounds keyway's silence, not a whole transfer: a big /v1/shardmap sent
// to thousands of clients at once after a version change arrives slowly but steadily, and a client
// that threw each partial transfer away at timeoutMs retried from scratch for ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardMapClient, KeywayError } from '../../src/client/index.js';
import { listenForTest } from '../support/loopback-server.js';

const S = 64;
const body = JSON.stringify({
  version: 'v1',
  shardCount: S,
  shards: Array.from({ length: S }, (_, shard) => ({ shard, owners: ['a'] })),
  endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }],
});

/** Writes `body` in `parts` pieces, one every `everyMs`, then stops writing if `stallAfter` pieces went out. */
async function trickle(res: ServerResponse, parts: number, everyMs: number, stallAfter = Infinity): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  const size = Math.ceil(body.length / parts);
  for (let i = 0; i < parts; i++) {
    if (i >= stallAfter || res.destroyed) return;
    res.write(body.slice(i * size, (i + 1) * size));
    await sleep(everyMs);
  }
  res.end();
}

test('a map that arrives slower than timeoutMs in all, but never silent for timeoutMs, is taken', async (t) => {
  // 20 pieces 50 ms apart: about 1 s in all, five times the 200 ms timeout, never 200 ms silent.
  const base = await listenForTest(t, createServer((_req, res) => void trickle(res, 20, 50)));
  const client = await ShardMapClient.connect({ baseUrl: base, pollIntervalMs: 0, timeoutMs: 200 });
  t.after(() => client.close());
  assert.equal(client.version, 'v1');
  assert.equal(client.shardCount, S);
});

test('a map whose bytes stop for timeoutMs is cut there, named as a silence after the answer began', async (t) => {
  const base = await listenForTest(t, createServer((_req, res) => void trickle(res, 20, 10, 3)));
  await assert.rejects(ShardMapClient.connect({ baseUrl: base, pollIntervalMs: 0, timeoutMs: 200 }), (err: unknown) => {
    assert.ok(err instanceof KeywayError);
    assert.equal(err.code, 'KEYWAY_UNAVAILABLE');
    assert.match(err.message, /v1\/shardmap: no byte of the answer for 200 ms$/);
    return true;
  });
});
