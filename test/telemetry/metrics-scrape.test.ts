/**
 * What one scrape costs and covers: the connected proxies are read once per scrape (building a row
 * per proxy is most of a scrape's time with thousands of proxies), and the histograms' buckets
 * cover the range their values can take.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKeywayMetrics, KEYWAY_METRICS as N } from '../../src/telemetry/index.js';
import { MAX_OWNER_SLOTS } from '../../src/core/limits.js';
import { parseExposition } from './support/exposition.js';

test('one scrape reads the connected proxies once, for both the proxy gauges and keyway_degraded', async (t) => {
  const m = createKeywayMetrics();
  t.after(() => m.shutdown());
  let reads = 0;
  m.observeProxies(() => {
    reads++;
    return [{ flavor: 'envoy', types: { cluster: { status: 'NACKED' } } }];
  });
  m.observeHealth(() => ({ sources: [] }));
  const exp = parseExposition(await m.render());
  assert.equal(exp.value(N.proxiesConnected, { flavor: 'envoy' }), 1);
  assert.equal(exp.value(N.degraded, { reason: 'proxy_nack' }), 1, 'keyway_degraded still sees the NACK');
  assert.equal(reads, 1);
  await Promise.all([m.render(), m.render()]);
  assert.equal(reads, 3, 'two concurrent scrapes: one read each');
});

test('a change that moves every shard of the largest map lands in a finite bucket of moved shards', async (t) => {
  const m = createKeywayMetrics();
  t.after(() => m.shutdown());
  m.recordShardMapPublished({ version: 'v1', shardCount: MAX_OWNER_SLOTS, movedShards: MAX_OWNER_SLOTS });
  const exp = parseExposition(await m.render());
  const finite = exp.find(`${N.movedPerChange}_bucket`).filter((s) => s.labels.le !== '+Inf');
  assert.ok(
    finite.some((s) => Number(s.labels.le) >= MAX_OWNER_SLOTS && s.value === 1),
    `largest bound ${Math.max(...finite.map((s) => Number(s.labels.le)))}: histogram_quantile would read at most that`,
  );
});

test('a full computation at the work budget (seconds on a loaded machine) lands in a finite bucket of compute time', async (t) => {
  const m = createKeywayMetrics();
  t.after(() => m.shutdown());
  m.recordShardMapCompute(12);
  const exp = parseExposition(await m.render());
  const finite = exp.find(`${N.shardMapComputeDuration}_bucket`).filter((s) => s.labels.le !== '+Inf');
  assert.ok(finite.some((s) => s.value === 1), `bounds ${finite.map((s) => s.labels.le).join(' ')}`);
});
