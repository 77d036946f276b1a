import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKeywayMetrics, KEYWAY_METRICS as N, type KeywayMetrics } from '../../src/telemetry/index.js';
import { parseExposition } from './support/exposition.js';
import { feedEveryMetric } from './support/every-metric.js';

function metrics(t: { after(fn: () => Promise<void>): void }, opts: Parameters<typeof createKeywayMetrics>[0] = {}): KeywayMetrics {
  const m = createKeywayMetrics(opts);
  t.after(() => m.shutdown());
  return m;
}

const ROW = { region: 'us-east', zone: 'us-east-1a', subzone: 'nvl-1', ready: true };

test('every documented name is exposed exactly as KEYWAY_METRICS says, with its Prometheus type', async (t) => {
  const m = metrics(t);
  feedEveryMetric(m);
  const exp = parseExposition(await m.render());
  const expectedType: Record<keyof typeof N, string> = {
    proxiesConnected: 'gauge',
    proxySyncStatus: 'gauge',
    pushes: 'counter',
    pushDuration: 'histogram',
    nacks: 'counter',
    proxyClasses: 'gauge',
    streamsRefused: 'counter',
    streamsOverLimit: 'counter',
    convergence: 'histogram',
    shardMapComputeDuration: 'histogram',
    shardMapVersionAge: 'gauge',
    shardMapInfo: 'gauge',
    shardCount: 'gauge',
    shardsMoved: 'counter',
    shardMapChanges: 'counter',
    movedPerChange: 'histogram',
    shardsOwned: 'gauge',
    shardsPrimary: 'gauge',
    endpointWeight: 'gauge',
    endpointReady: 'gauge',
    sourceErrors: 'counter',
    sourceStaleness: 'gauge',
    sourceStale: 'gauge',
    handoffStarted: 'counter',
    handoffCompleted: 'counter',
    handoffWarmDuration: 'histogram',
    handoffInTransition: 'gauge',
    handoffDraining: 'gauge',
    xdsTlsCertificateExpiry: 'gauge',
    degraded: 'gauge',
    loadShard: 'gauge',
    loadNode: 'gauge',
    loadWindow: 'gauge',
    loadSnapshotReadFailures: 'gauge',
    hotShards: 'gauge',
    hotShardMoves: 'counter',
    hotShardMovesDeferred: 'counter',
    hotShardLoadRatio: 'gauge',
    pickerDecisions: 'counter',
    pickerServed: 'counter',
  };
  for (const [key, name] of Object.entries(N) as [keyof typeof N, string][]) {
    assert.equal(exp.types.get(name), expectedType[key], `# TYPE of ${name}`);
    const sampleName = expectedType[key] === 'histogram' ? `${name}_count` : name;
    assert.ok(exp.find(sampleName).length > 0, `a sample of ${sampleName}`);
    assert.match(name, /^keyway_/);
  }
  // No scope labels: series carry only keyway's own labels.
  assert.deepEqual(Object.keys(exp.find(N.pushes, { type: 'endpoint' })[0]!.labels), ['type']);
  assert.equal(exp.value('target_info', { service_name: 'keyway' }), 1);
  assert.equal(exp.value(N.hotShards, { reason: 'spread' }), 2);
  assert.equal(exp.value(N.hotShards, { reason: 'bounded-load' }), 1);
  assert.equal(exp.value(N.hotShardMoves), 3);
  assert.equal(exp.value(N.hotShardMovesDeferred), 1);
  assert.equal(exp.value(N.hotShardLoadRatio, { map: 'plain' }), 1.7);
});

test('pushes count per type and their durations land in the right buckets; NACKs count per type', async (t) => {
  const m = metrics(t);
  m.recordPush('endpoint', 0.004);
  m.recordPush('endpoint', 0.2);
  m.recordPush('cluster', 0.001);
  m.recordNack('endpoint');
  m.recordPush('route', -1); // a clock step backwards counts as 0, not a negative sum
  const exp = parseExposition(await m.render());
  assert.equal(exp.value(N.pushes, { type: 'endpoint' }), 2);
  assert.equal(exp.value(N.pushes, { type: 'cluster' }), 1);
  assert.equal(exp.value(N.pushes, { type: 'listener' }), 0, 'known types start at 0');
  const bucket = (le: string) => exp.value(`${N.pushDuration}_bucket`, { type: 'endpoint', le });
  assert.equal(bucket('0.0025'), 0);
  assert.equal(bucket('0.005'), 1);
  assert.equal(bucket('0.1'), 1);
  assert.equal(bucket('0.25'), 2);
  assert.equal(bucket('+Inf'), 2);
  assert.ok(Math.abs(exp.value(`${N.pushDuration}_sum`, { type: 'endpoint' }) - 0.204) < 1e-9);
  assert.equal(exp.value(`${N.pushDuration}_sum`, { type: 'route' }), 0);
  assert.equal(exp.value(N.nacks, { type: 'endpoint' }), 1);
  assert.equal(exp.value(N.nacks, { type: 'cluster' }), 0);
});

test('streams refused at a stream cap count per setting, each cap starting at 0', async (t) => {
  const m = metrics(t);
  m.recordStreamRefused('KEYWAY_XDS_MAX_STREAMS');
  m.recordStreamRefused('KEYWAY_XDS_MAX_STREAMS');
  const exp = parseExposition(await m.render());
  assert.equal(exp.value(N.streamsRefused, { limit: 'KEYWAY_XDS_MAX_STREAMS' }), 2);
  assert.equal(exp.value(N.streamsRefused, { limit: 'KEYWAY_XDS_MAX_STREAMS_PER_CONNECTION' }), 0);
});

test('streams ended at a per-stream limit count per reason, each reason starting at 0, apart from refusals', async (t) => {
  const m = metrics(t);
  m.recordStreamOverLimit('write_stall');
  const exp = parseExposition(await m.render());
  assert.equal(exp.value(N.streamsOverLimit, { reason: 'write_stall' }), 1);
  for (const reason of ['buffered_bytes', 'subscription_names', 'subscription_name_chars']) assert.equal(exp.value(N.streamsOverLimit, { reason }), 0);
  assert.equal(exp.value(N.streamsRefused, { limit: 'KEYWAY_XDS_MAX_STREAMS' }), 0);
});

test('connected proxies by flavor and sync status per type are counted from the callback at each scrape', async (t) => {
  const m = metrics(t);
  let proxies = [
    { flavor: 'envoy', types: { cluster: { status: 'SYNCED' }, endpoint: { status: 'NACKED' } } },
    { flavor: 'envoy', types: { cluster: { status: 'SYNCED' }, endpoint: { status: 'SYNCED' } } },
    { flavor: 'grpc', types: { cluster: { status: 'STALE' }, endpoint: { status: 'SOMETHING_NEW' } } },
  ];
  m.observeProxies(() => proxies);
  let exp = parseExposition(await m.render());
  assert.equal(exp.value(N.proxiesConnected, { flavor: 'envoy' }), 2);
  assert.equal(exp.value(N.proxiesConnected, { flavor: 'grpc' }), 1);
  assert.equal(exp.value(N.proxySyncStatus, { type: 'cluster', status: 'SYNCED' }), 2);
  assert.equal(exp.value(N.proxySyncStatus, { type: 'cluster', status: 'STALE' }), 1);
  assert.equal(exp.value(N.proxySyncStatus, { type: 'endpoint', status: 'NACKED' }), 1);
  assert.equal(exp.value(N.proxySyncStatus, { type: 'endpoint', status: 'SOMETHING_NEW' }), 1, 'unknown statuses are reported too');
  assert.equal(exp.value(N.proxySyncStatus, { type: 'route', status: 'NOT_SENT' }), 0, 'known cells are 0, not absent');

  proxies = [];
  exp = parseExposition(await m.render());
  assert.equal(exp.value(N.proxiesConnected, { flavor: 'envoy' }), 0, 'state is read again, nothing cached');
  assert.equal(exp.value(N.proxySyncStatus, { type: 'cluster', status: 'SYNCED' }), 0);
});

test('ownership follows the callback: endpoints that left disappear, a replaced reader takes over, uninstall empties it', async (t) => {
  const m = metrics(t);
  let rows = [
    { endpoint: 'a', ...ROW, owned: 10, primary: 6, weight: 80 },
    { endpoint: 'b', ...ROW, subzone: 'nvl-2', owned: 6, primary: 2, weight: 40, ready: false },
  ];
  const uninstall = m.observeOwnership(() => rows);
  let exp = parseExposition(await m.render());
  assert.equal(exp.value(N.shardsOwned, { endpoint: 'a', zone: 'us-east-1a', subzone: 'nvl-1', region: 'us-east' }), 10);
  assert.equal(exp.value(N.shardsPrimary, { endpoint: 'b', subzone: 'nvl-2' }), 2);
  assert.equal(exp.value(N.endpointWeight, { endpoint: 'a' }), 80);
  assert.equal(exp.value(N.endpointReady, { endpoint: 'b' }), 0);

  rows = [{ endpoint: 'a', ...ROW, owned: 16, primary: 8, weight: 80 }];
  exp = parseExposition(await m.render());
  assert.equal(exp.find(N.shardsOwned, { endpoint: 'b' }).length, 0, 'a removed endpoint leaves no stale series');
  assert.equal(exp.value(N.shardsOwned, { endpoint: 'a' }), 16);

  const uninstallSecond = m.observeOwnership(() => [{ endpoint: 'c', ...ROW, owned: 1, primary: 1, weight: 1 }]);
  uninstall(); // the first reader was replaced; uninstalling it must not remove the second
  exp = parseExposition(await m.render());
  assert.deepEqual(exp.find(N.shardsOwned).map((s) => s.labels.endpoint), ['c']);
  uninstallSecond();
  exp = parseExposition(await m.render());
  assert.equal(exp.find(N.shardsOwned).length, 0);
});

test('shard-map publication sets the version in force, its age, and counts moves per change', async (t) => {
  let clock = 1_000_000;
  const m = metrics(t, { now: () => clock });
  let exp = parseExposition(await m.render());
  assert.equal(exp.find(N.shardMapInfo).length, 0, 'no version before the first map');
  assert.equal(exp.value(N.shardsMoved), 0);

  m.recordShardMapPublished({ version: 'v1', shardCount: 1024, movedShards: 0, at: new Date(clock) });
  clock += 2_500;
  m.recordShardMapPublished({ version: 'v2', shardCount: 1024, movedShards: 100, at: new Date(clock) });
  clock += 4_000;
  m.recordShardMapCompute(0.0004);
  exp = parseExposition(await m.render());
  assert.equal(exp.value(N.shardMapVersionAge), 4);
  assert.equal(exp.value(N.shardMapInfo, { version: 'v2' }), 1);
  assert.equal(exp.find(N.shardMapInfo, { version: 'v1' }).length, 0, 'only the version in force');
  assert.equal(exp.value(N.shardCount), 1024);
  assert.equal(exp.value(N.shardsMoved), 100);
  assert.equal(exp.value(N.shardMapChanges), 2);
  assert.equal(exp.value(`${N.movedPerChange}_count`), 2);
  assert.equal(exp.value(`${N.movedPerChange}_bucket`, { le: '0' }), 1);
  assert.equal(exp.value(`${N.movedPerChange}_bucket`, { le: '64' }), 1);
  assert.equal(exp.value(`${N.movedPerChange}_bucket`, { le: '128' }), 2);
  assert.equal(exp.value(`${N.shardMapComputeDuration}_bucket`, { le: '0.0005' }), 1);
  assert.equal(exp.value(`${N.shardMapComputeDuration}_bucket`, { le: '0.00025' }), 0);
});

test('sources: errors count per source, staleness is measured from the last update', async (t) => {
  let clock = 50_000;
  const m = metrics(t, { now: () => clock, sources: ['file', 'kubernetes'] });
  m.observeSources(() => [
    { kind: 'file', stale: false, lastUpdate: new Date(48_000) },
    { kind: 'kubernetes', stale: true, lastUpdate: new Date(20_000) },
    { kind: 'never-updated', stale: true },
  ]);
  m.recordSourceError('kubernetes');
  m.recordSourceError('kubernetes');
  clock = 60_000;
  const exp = parseExposition(await m.render());
  assert.equal(exp.value(N.sourceErrors, { source: 'kubernetes' }), 2);
  assert.equal(exp.value(N.sourceErrors, { source: 'file' }), 0);
  assert.equal(exp.value(N.sourceStaleness, { source: 'file' }), 12);
  assert.equal(exp.value(N.sourceStaleness, { source: 'kubernetes' }), 40);
  assert.equal(exp.find(N.sourceStaleness, { source: 'never-updated' }).length, 0, 'no age without an update time');
  assert.equal(exp.value(N.sourceStale, { source: 'kubernetes' }), 1);
  assert.equal(exp.value(N.sourceStale, { source: 'file' }), 0);
});

test('keyway_degraded: one series per reason, 1 for NACKing proxies and stale sources, back to 0 when they clear', async (t) => {
  const m = metrics(t);
  let nacked = true;
  let stale = true;
  m.observeProxies(() => [
    { flavor: 'envoy', types: { cluster: { status: 'SYNCED' }, endpoint: { status: nacked ? 'NACKED' : 'SYNCED' } } },
    { flavor: 'grpc', types: { endpoint: { status: 'STALE' } } },
  ]);
  m.observeHealth(() => ({ sources: [{ kind: 'kubernetes', healthy: !stale, stale }] }));
  let exp = parseExposition(await m.render());
  assert.equal(exp.value(N.degraded, { reason: 'proxy_nack' }), 1);
  assert.equal(exp.value(N.degraded, { reason: 'source_stale' }), 1);
  assert.equal(exp.value(N.degraded, { reason: 'source_error' }), 0);
  assert.equal(exp.value(N.degraded, { reason: 'pipeline_error' }), 0);
  assert.equal(exp.find(N.degraded).length, 5, 'a bounded label set: one series per reason');
  nacked = false;
  stale = false;
  exp = parseExposition(await m.render());
  for (const reason of ['proxy_nack', 'snapshot_rejected', 'source_stale', 'source_error', 'pipeline_error']) assert.equal(exp.value(N.degraded, { reason }), 0, reason);
});

test('a reader that throws costs only its own gauges: the scrape still renders everything else', async (t) => {
  const errors: unknown[] = [];
  const m = metrics(t, { onCollectErrors: (e) => errors.push(...e) });
  m.observeOwnership(() => {
    throw new Error('map unavailable');
  });
  m.observeProxies(() => [{ flavor: 'grpc' }]);
  m.recordConvergence(1.5);
  const exp = parseExposition(await m.render());
  assert.equal(exp.find(N.shardsOwned).length, 0);
  assert.equal(exp.value(N.proxiesConnected, { flavor: 'grpc' }), 1);
  assert.equal(exp.value(`${N.convergence}_count`), 1);
  assert.equal(exp.value(`${N.convergence}_bucket`, { le: '1' }), 0);
  assert.equal(exp.value(`${N.convergence}_bucket`, { le: '2.5' }), 1);
  assert.equal(errors.length, 1);
  assert.match(String((errors[0] as Error).message ?? errors[0]), /map unavailable/);
});

test('two-phase moves: started and ended by outcome, time to warm for flips only, shards in transition and drains', async (t) => {
  const m = metrics(t);
  let state: { inTransition: number; draining: number } | undefined = { inTransition: 3, draining: 0 };
  m.observeHandoff(() => state);
  m.recordHandoff({ started: 3, completed: [] });
  m.recordHandoff({
    started: 0,
    completed: [
      { outcome: 'warm', seconds: 0.2 },
      { outcome: 'timeout', seconds: 30 },
      { outcome: 'cancelled', seconds: 1 },
    ],
  });
  let exp = parseExposition(await m.render());
  assert.equal(exp.value(N.handoffStarted), 3);
  assert.equal(exp.value(N.handoffCompleted, { outcome: 'warm' }), 1);
  assert.equal(exp.value(N.handoffCompleted, { outcome: 'timeout' }), 1);
  assert.equal(exp.value(N.handoffCompleted, { outcome: 'cancelled' }), 1);
  assert.equal(exp.value(N.handoffCompleted, { outcome: 'agent-lost' }), 0, 'every outcome starts at 0');
  assert.equal(exp.value(`${N.handoffWarmDuration}_count`, { outcome: 'warm' }), 1);
  assert.equal(exp.value(`${N.handoffWarmDuration}_bucket`, { outcome: 'warm', le: '0.25' }), 1);
  assert.equal(exp.value(`${N.handoffWarmDuration}_bucket`, { outcome: 'timeout', le: '20' }), 0);
  assert.equal(exp.find(`${N.handoffWarmDuration}_count`, { outcome: 'cancelled' }).length, 0, 'a cancelled move has no time to warm');
  assert.equal(exp.value(N.handoffInTransition), 3);
  state = undefined;
  exp = parseExposition(await m.render());
  assert.equal(exp.find(N.handoffInTransition).length, 0, 'no handoff state, no gauge');
});
