/**
 * Fuzz of the example cache node's HTTP surface over raw sockets: random methods and versions,
 * odd bytes and broken percent-encoding in keys, long keys and headers, repeated and conflicting
 * x-cache-key / x-cache-shard, bodies on GET, conflicting framing, absolute-form targets, HTTP/1.0
 * without Host, pipelined requests and slow, fragmented clients. The node must answer each
 * connection within a bound with no 5xx, keep serving a well-formed request correctly, keep its
 * tiers at their capacities and its metrics at a fixed number of series.
 * Seeded and short by default; a longer campaign:
 *   KEYWAY_FUZZ_ITERATIONS=5000 KEYWAY_FUZZ_SEED=7 node --import tsx --test test/telemetry/cache-node/fuzz-http.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyToShard } from '../../../src/sharding/index.js';
import { startCacheNodeServer } from '../../../examples/cache-node/server.js';
import { storeValue } from '../../../examples/cache-node/tiers.js';
import { eventually } from '../../support/eventually.js';
import { fuzzBudget, Rng } from '../../support/seeded-random.js';
import { parseExposition } from '../support/exposition.js';
import { exchange } from './raw-http.js';
import { fakeKeyway, fragments, NODE, request, S } from './fuzz-support.js';

/** Statuses the node (or Node's HTTP parser, for what it cannot parse) may answer. */
const ALLOWED = new Set([100, 200, 400, 404, 405, 408, 413, 414, 421, 431]);
const CONCURRENCY = 8;

test('hostile HTTP/1.x requests get a 4xx or an answer within a bound, and the node keeps serving with bounded state', async (t) => {
  const { iterations, seed } = fuzzBudget(240);
  const keywayUrl = await fakeKeyway(t);
  const node = await startCacheNodeServer({ id: NODE, keywayUrl, l1Capacity: 50, l2Capacity: 200, l3DelayMs: 0, pollIntervalMs: 60_000 });
  t.after(() => node.close());
  await eventually('ownership from the stand-in', () => node.ownership());
  const rng = new Rng(seed);
  const statuses = new Map<number, number>();

  const one = async (i: number): Promise<void> => {
    const pipelined = Array.from({ length: rng.chance(0.3) ? 2 + rng.int(3) : 1 }, () => request(rng));
    const bytes = Buffer.concat(pipelined);
    const slow = rng.chance(0.15);
    const pieces = slow ? fragments(rng, bytes) : [bytes];
    const got = await exchange(node.httpPort, pieces, { pauseMs: slow ? 5 + rng.int(20) : 0, timeoutMs: 5_000 });
    const where = `seed ${seed}, case ${i}: ${JSON.stringify(bytes.toString('latin1').slice(0, 400))}`;
    assert.ok(got.closed, `no answer within 5 s (${where})`);
    for (const s of got.statuses) {
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
      assert.ok(ALLOWED.has(s), `status ${s} (${where}): ${got.raw.toString('latin1').slice(0, 600)}`);
    }
  };
  for (let i = 0; i < iterations; i += CONCURRENCY) {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, iterations - i) }, (_, j) => one(i + j)));
  }
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);

  // Still serving, and serving the right bytes.
  const key = 'user:42';
  const res = await fetch(`${node.url}/kv/${encodeURIComponent(key)}`, { headers: { 'x-cache-shard': String(keyToShard(key, S)) } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { key, value: storeValue(key), shard: keyToShard(key, S), node: NODE, tier: res.headers.get('x-cache-tier'), owner: res.headers.get('x-cache-owner') });
  assert.ok(node.cache.l1.size <= 50 && node.cache.l2.size <= 200, `tiers past capacity: l1 ${node.cache.l1.size}, l2 ${node.cache.l2.size}`);

  // Every label value comes from a fixed set: the series count does not follow the clients.
  const exp = parseExposition(await (await fetch(`${node.url}/metrics`)).text());
  const series = exp.samples.filter((s) => s.name.startsWith('keyway_cache_'));
  assert.ok(series.length <= 20, `${series.length} keyway_cache_ series: ${JSON.stringify(series.map((s) => s.labels))}`);
});
