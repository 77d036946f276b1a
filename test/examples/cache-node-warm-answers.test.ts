/**
 * What a warming node takes from a peer's `/v1/warm` answer: only keys of the shard it asked for
 * (a peer that ignores `?shard=` filled L1 with keys of shards the node does not own), and only a
 * bounded body (an endless answer filled memory until the timeout).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { getJsonIfChanged } from '../../examples/cache-node/get-json.js';
import { TieredCache } from '../../examples/cache-node/tiers.js';
import { warmShard } from '../../examples/cache-node/warm.js';
import { keyToShard } from '../../src/sharding/index.js';
import { startPeer } from './cache-node-support.js';

const S = 64;
const SHARD = 5;

/** A peer node whose `/v1/warm` answers with `answer` whatever shard is asked for. */
async function peer(t: { after(fn: () => unknown): void }, id: string, answer: (res: http.ServerResponse) => void): Promise<{ id: string; address: string; port: number }> {
  return { id, address: '127.0.0.1', port: await startPeer(t, (_req, res) => answer(res)) };
}

function keysOf(shard: number, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (keyToShard(`k${i}`, S) === shard) out.push(`k${i}`);
  return out;
}

const json = (body: unknown) => (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));

test('a peer answering keys of another shard is passed over for the next, and none of its keys reach L1 or L2', async (t) => {
  const foreign = keysOf(SHARD + 1, 3);
  const own = keysOf(SHARD, 3);
  const sloppy = await peer(t, 'sloppy', json({ node: 'sloppy', shard: SHARD, entries: [[own[0], 'v', 1], ...foreign.map((k) => [k, 'x', 1])] }));
  const good = await peer(t, 'good', json({ node: 'good', shard: SHARD, entries: own.map((k) => [k, 'v', 1]) }));
  const cache = new TieredCache({ l1Capacity: 100, l2Capacity: 1000, l3DelayMs: 0 });
  const lines: Record<string, unknown>[] = [];
  const result = await warmShard({ shard: SHARD, peers: [sloppy, good], cache, limit: 100, signal: new AbortController().signal, shardCount: S, log: (r) => lines.push(r) });
  assert.equal(result.from, 'good');
  assert.equal(result.imported, 3);
  for (const k of foreign) assert.ok(!cache.l1.has(k) && !cache.l2.has(k), k);
  assert.match(String(lines[0]?.err), new RegExp(`holds a key of shard ${SHARD + 1} of ${S}, not of shard ${SHARD}`));
});

test('a peer holding none of the shard passes the turn to the next; when all hold none, the first that answered is named', async (t) => {
  const own = keysOf(SHARD, 3);
  const empty = await peer(t, 'restarted', json({ node: 'restarted', shard: SHARD, entries: [] }));
  const reader = await peer(t, 'reader', json({ node: 'reader', shard: SHARD, entries: own.map((k) => [k, 'v', 1]) }));
  const cache = new TieredCache({ l1Capacity: 100, l2Capacity: 1000, l3DelayMs: 0 });
  const result = await warmShard({ shard: SHARD, peers: [empty, reader], cache, limit: 100, signal: new AbortController().signal, shardCount: S });
  assert.deepEqual(result, { imported: 3, offered: 3, from: 'reader' });
  for (const k of own) assert.ok(cache.l1.has(k), k);
  const none = await warmShard({ shard: SHARD, peers: [empty, empty], cache: new TieredCache({ l1Capacity: 100, l2Capacity: 1000, l3DelayMs: 0 }), limit: 100, signal: new AbortController().signal, shardCount: S });
  assert.deepEqual(none, { imported: 0, offered: 0, from: 'restarted' });
});

test('an answer past the body bound fails naming the bound, without waiting for its end', async (t) => {
  const endless = await peer(t, 'endless', (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = 'x'.repeat(16 * 1024);
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.write('{"pad":"');
    pump();
  });
  const started = performance.now();
  await assert.rejects(getJsonIfChanged(`http://127.0.0.1:${endless.port}/v1/warm`, 10_000, undefined, undefined, 1024 * 1024), /the answer passes 1048576 bytes/);
  assert.ok(performance.now() - started < 5_000, 'refused as it passed the bound, not at the timeout');
});
