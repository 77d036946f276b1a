import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCacheMetrics, SERIES_PER_SHARD, type CacheMetricsOptions } from '../../../examples/cache-node/cache-metrics.js';
import type { Lookup } from '../../../examples/cache-node/tiers.js';
import { CACHE_NODE_METRICS as C } from '../../../src/telemetry/metric-names.js';
import { parseExposition } from '../support/exposition.js';

const S = 16_384;
const MISS_THEN_L2: readonly Lookup[] = [
  { tier: 'l1', result: 'miss' },
  { tier: 'l2', result: 'hit' },
];
const L1_HIT: readonly Lookup[] = [{ tier: 'l1', result: 'hit' }];

/** One node that served a request for every shard of S = 16384: odd shards hit L1, even ones miss. */
async function everyShardOnce(opts: CacheMetricsOptions) {
  const metrics = createCacheMetrics(
    { node: 'n0', locality: () => ({ region: 'r', zone: 'z', subzone: 'f' }), ownership: () => undefined, lastShardMapRead: () => undefined, entries: () => ({ l1: 0, l2: 0 }) },
    opts,
  );
  for (let shard = 0; shard < S; shard++) metrics.recordRequest(shard, 'true', shard % 2 === 1 ? L1_HIT : MISS_THEN_L2);
  metrics.recordMisdirected(7);
  const exp = parseExposition(await metrics.render());
  await metrics.shutdown();
  return exp;
}

const sum = (samples: readonly { value: number }[]): number => samples.reduce((a, s) => a + s.value, 0);

test('by default no counter carries a shard label: a handful of series at S = 16384, and the sums are the totals', async () => {
  const exp = await everyShardOnce({});
  assert.deepEqual(
    exp.samples.filter((s) => 'shard' in s.labels),
    [],
  );
  assert.equal(exp.find(C.requests).length, 1);
  assert.equal(exp.value(C.requests, { owner: 'true' }), S);
  assert.equal(exp.value(C.lookups, { tier: 'l1', result: 'hit' }), S / 2);
  assert.equal(exp.value(C.lookups, { tier: 'l1', result: 'miss' }), S / 2);
  assert.equal(exp.value(C.misdirected, { node: 'n0' }), 1);
  assert.equal(exp.samples.filter((s) => s.labels.otel_metric_overflow !== undefined).length, 0);
});

test('opt-in shard labels with the documented limit hold S = 16384 shards without overflow', async () => {
  const logs: Record<string, unknown>[] = [];
  const exp = await everyShardOnce({ shardLabels: { seriesLimit: S * SERIES_PER_SHARD }, log: (r) => logs.push(r) });
  assert.equal(exp.find(C.requests).length, S);
  assert.equal(exp.find(C.lookups, { tier: 'l1' }).length, S);
  assert.equal(exp.value(C.lookups, { shard: '16383', tier: 'l1', result: 'hit' }), 1);
  assert.equal(sum(exp.find(C.lookups, { tier: 'l1', result: 'hit' })), S / 2);
  assert.equal(exp.samples.filter((s) => s.labels.otel_metric_overflow !== undefined).length, 0);
  assert.deepEqual(logs, []);
});

test('past the opt-in limit the SDK folds series into otel_metric_overflow and the node says so once', async () => {
  const logs: Record<string, unknown>[] = [];
  const exp = await everyShardOnce({ shardLabels: { seriesLimit: 1_000 }, log: (r) => logs.push(r) });
  const overflow = exp.find(C.lookups, { otel_metric_overflow: 'true' });
  assert.equal(overflow.length, 1, 'one overflow series');
  // The overflow series has no tier or result: a dashboard that selects tier="l1" misses it, which
  // is why the per-shard labels are off by default.
  assert.equal(overflow[0]!.labels.tier, undefined);
  assert.ok(sum(exp.find(C.lookups, { tier: 'l1', result: 'hit' })) < S / 2);
  assert.equal(sum(exp.find(C.requests)), S, 'the requests still add up, overflow included');
  assert.equal(logs.length, 1);
  assert.match(String(logs[0]!.msg), /series limit.*--shard-metrics-limit/);
  assert.equal(logs[0]!.seriesLimit, 1_000);
});
