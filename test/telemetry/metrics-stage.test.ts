import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { metricsStage } from '../../src/app/index.js';
import { createKeywayMetrics, KEYWAY_METRICS as N, ownershipRows, PROMETHEUS_CONTENT_TYPE } from '../../src/telemetry/index.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import { tempTopology, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { parseExposition } from './support/exposition.js';

const FAST = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 };

test('ownershipRows: one row per endpoint with owned/primary counts that add up to S*R and S', () => {
  const endpoints: Endpoint[] = [
    { id: 'a', address: '10.0.0.1', port: 1, locality: { region: 'r', zone: 'z1', subzone: 'f1' }, weight: 3, ready: true },
    { id: 'b', address: '10.0.0.2', port: 1, locality: { region: 'r', zone: 'z1', subzone: 'f2' }, weight: 1, ready: true },
    { id: 'c', address: '10.0.0.3', port: 1, locality: { region: 'r', zone: 'z2', subzone: 'f3' }, weight: 2, ready: true },
    { id: 'd', address: '10.0.0.4', port: 1, locality: { region: 'r', zone: 'z2', subzone: 'f4' }, weight: 2, ready: false },
  ];
  const map = computeShardMap(endpoints, { shardCount: 256, replicas: 2, spread: 'none' });
  const rows = ownershipRows(map);
  assert.deepEqual(rows.map((r) => r.endpoint), ['a', 'b', 'c', 'd']);
  assert.equal(rows.reduce((n, r) => n + r.owned, 0), 512);
  assert.equal(rows.reduce((n, r) => n + r.primary, 0), 256);
  const d = rows.find((r) => r.endpoint === 'd')!;
  assert.deepEqual([d.owned, d.primary, d.ready, d.weight, d.subzone], [0, 0, false, 2, 'f4']);
  // Shares follow weights: a (weight 3 of 6) leads the most shards, b (1 of 6) the fewest.
  const lead = Object.fromEntries(rows.map((r) => [r.endpoint, r.primary]));
  assert.ok(lead.a! > lead.c! && lead.c! > lead.b!, JSON.stringify(lead));
  // Cross-check against the map itself.
  const primaries = map.owners.filter((o) => o[0] === 'a').length;
  assert.equal(lead.a, primaries);
});

test('the telemetry stage serves GET /metrics from keyway serve and follows topology changes', async (t) => {
  const topo = await tempTopology(topologyText({ shards: 64, replicas: 2, ready: [true, true, true] }));
  const metrics = createKeywayMetrics();
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', fileWatch: FAST, stages: [metricsStage(metrics)] });
  t.after(async () => {
    await server.close();
    await metrics.shutdown();
    await topo.cleanup();
  });
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
    return parseExposition(await res.text());
  };

  let exp = await scrape();
  const v1 = server.state.current()!.map.version;
  assert.equal(exp.value(N.shardMapInfo, { version: v1 }), 1);
  assert.equal(exp.value(N.shardCount), 64);
  assert.equal(exp.value(N.shardMapChanges), 1);
  assert.equal(exp.value(N.shardsMoved), 0);
  assert.deepEqual(exp.find(N.shardsOwned).map((s) => s.labels.endpoint).sort(), ['e0', 'e1', 'e2']);
  assert.equal(exp.find(N.shardsOwned).reduce((n, s) => n + s.value, 0), 128, 'S*R owner slots');
  assert.equal(exp.find(N.shardsPrimary).reduce((n, s) => n + s.value, 0), 64);
  assert.equal(exp.value(N.shardsOwned, { endpoint: 'e1', zone: 'z1', subzone: 'f1', region: 'r' }) > 0, true);
  assert.equal(exp.value(N.sourceStale, { source: 'file' }), 0);
  assert.ok(exp.value(N.sourceStaleness, { source: 'file' }) >= 0);
  assert.equal(exp.value(`${N.shardMapComputeDuration}_count`), 1, 'the first map was computed once');
  assert.equal(exp.value(`${N.shardMapComputeDuration}_sum`), server.state.current()!.cause!.computeSeconds);
  assert.equal(exp.value(N.sourceErrors, { source: 'file' }), 0);

  // A fourth endpoint joins: shards move to it, the version changes, the new endpoint appears.
  await topo.write(topologyText({ shards: 64, replicas: 2, ready: [true, true, true, true] }));
  exp = await eventually('the new shard map in /metrics', async () => {
    const e = await scrape();
    return e.find(N.shardsOwned, { endpoint: 'e3' }).length > 0 ? e : undefined;
  });
  const view = server.state.current()!;
  assert.notEqual(view.map.version, v1);
  assert.equal(exp.value(N.shardMapInfo, { version: view.map.version }), 1);
  assert.equal(exp.find(N.shardMapInfo, { version: v1 }).length, 0);
  assert.equal(exp.value(N.shardMapChanges), 2);
  assert.equal(exp.value(N.shardsMoved), view.diff!.moves.length);
  assert.ok(view.diff!.moves.length > 0);
  assert.equal(exp.value(`${N.shardMapComputeDuration}_count`), 2, 'one computation per published map');

  // A file that does not parse: one source error, no computation, the map stays.
  await topo.write('shards: [64\n');
  exp = await eventually('the file error in /metrics', async () => {
    const e = await scrape();
    return e.value(N.sourceErrors, { source: 'file' }) === 1 ? e : undefined;
  });
  assert.equal(exp.value(N.sourceStale, { source: 'file' }), 1);
  assert.equal(exp.value(`${N.shardMapComputeDuration}_count`), 2);
  assert.equal(server.state.current(), view);

  // It leaves again: its series go with it.
  await topo.write(topologyText({ shards: 64, replicas: 2, ready: [true, true, true] }));
  exp = await eventually('e3 gone from /metrics', async () => {
    const e = await scrape();
    return e.find(N.shardsOwned, { endpoint: 'e3' }).length === 0 ? e : undefined;
  });
  assert.equal(exp.value(N.shardMapChanges), 3);
  assert.equal(exp.value(N.shardMapInfo, { version: v1 }), 1, 'the same endpoints give the same version again');
  assert.equal(exp.value(`${N.shardMapComputeDuration}_count`), 3);
  assert.equal(exp.value(N.sourceErrors, { source: 'file' }), 1, 'each failure counts once');
});
