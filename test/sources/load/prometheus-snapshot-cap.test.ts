// A Prometheus snapshot holds at most MAX_SNAPSHOT_SHARDS shards, its hottest, like a local one
// (docs/load-reports.md, the limits table). The answer is the union of what every replica exports
// (and whatever else the URL's Prometheus holds under those names): uncapped, 16384 shards in each
// of 77 windows held the event loop for 13 s in the hot-shard policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_SNAPSHOT_SHARDS, PrometheusLoadSource, snapshotsFromMatrix } from '../../../src/sources/load/index.js';
import { computeShardMap, HotShardDecider } from '../../../src/sharding/index.js';
import { DEFAULT_HOT_SHARD_SETTINGS } from '../../../src/core/load.js';
import { cacheNodes } from '../../sharding/hot-shards-fixtures.js';

const W = 1_000;
const T0 = 1_700_000_000_000;
const SHARDS = 16_384;

/** A query_range answer: windows T0 .. T0 + (windows - 1) W, every shard loaded at (shard % 1000) + 1 requests/s in each. */
function matrix(windows: number): { metric: Record<string, string>; values: [number, string][] }[] {
  const steps = Array.from({ length: windows }, (_, i) => (T0 + (i + 1) * W) / 1000);
  return [
    { metric: { load: 'window' }, values: steps.map((t, i) => [t, String((T0 + i * W) / 1000)]) },
    ...Array.from({ length: SHARDS }, (_, shard) => ({ metric: { shard: String(shard) }, values: steps.map((t): [number, string] => [t, String((shard % 1000) + 1)]) })),
  ];
}

test('snapshotsFromMatrix keeps the hottest MAX_SNAPSHOT_SHARDS shards of each window, sorted by shard, ties to the lower shard', () => {
  const [snap] = snapshotsFromMatrix(matrix(1), W);
  assert.equal(snap!.shards.length, MAX_SNAPSHOT_SHARDS);
  // Loads repeat every 1000 shards: a tie at the cut goes to the lower shards.
  const expected = Array.from({ length: SHARDS }, (_, shard) => ({ shard, requests: (shard % 1000) + 1 }))
    .sort((a, b) => b.requests - a.requests || a.shard - b.shard)
    .slice(0, MAX_SNAPSHOT_SHARDS)
    .sort((a, b) => a.shard - b.shard);
  assert.deepEqual(snap!.shards, expected);
});

test('a Prometheus answer of 16384 shards in every window keeps the policy short', async (t) => {
  const windows = 20;
  const body = JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: matrix(windows) } });
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const src = new PrometheusLoadSource({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lagMs: 0, windowMs: () => W, now: () => T0 + windows * W });
  t.after(() => src.close());
  const snapshots = await src.latest(windows);
  assert.equal(snapshots.length, windows);
  assert.ok(snapshots.every((s) => s.shards.length === MAX_SNAPSHOT_SHARDS));

  const map = computeShardMap(cacheNodes(256), { shardCount: SHARDS, replicas: 1, spread: 'none' });
  const started = performance.now();
  new HotShardDecider().decide(map, snapshots, { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: W });
  const ms = performance.now() - started;
  assert.ok(ms < 2_000, `the decision took ${ms.toFixed(0)} ms`);
});
