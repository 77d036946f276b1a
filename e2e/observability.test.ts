/**
 * Observability end to end (issue 5 item 4): a real Prometheus scrapes keyway's `GET /metrics` and
 * four example cache nodes every second while traffic flows and the topology changes; then every
 * PromQL expression of every panel of both Grafana dashboards (and every template-variable query)
 * is evaluated through Prometheus's HTTP API and must return at least one series.
 *
 * keyway runs in-process (`startServer` with the telemetry stage: the real file source, sharding,
 * serving state and admin app). The xDS server's calls into telemetry are not wired in yet, so the
 * test drives them the way that wiring will: change traces and the xDS events recorder, fed by a
 * simulated set of proxies. When `keyway serve` serves /metrics with the xDS server wired, this
 * part can become a real keyway process with real proxies.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from '../src/serve/index.js';
import { computeShardMap, keyToShard } from '../src/sharding/index.js';
import {
  beginChangeTrace,
  createKeywayMetrics,
  metricsStage,
  xdsEventsRecorder,
  type ChangeTrace,
  type KeywayMetrics,
} from '../src/telemetry/index.js';
import { startCacheNodeServer, type RunningCacheNode } from '../examples/cache-node/server.js';
import { DASHBOARD_FILES, labelValuesQueries, loadDashboard, queriesOf, substitute } from '../test/telemetry/support/dashboards.js';
import { httpRequest } from './support/http.js';
import { freePorts } from './support/ports.js';
import { prometheusSkipReason, promtoolCheckConfig, startPrometheus, type PrometheusProcess, type QueryResult } from './support/prometheus.js';
import { waitUntil } from './support/wait.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const skip = prometheusSkipReason();

const NODES = [
  { id: 'gpu-a1', zone: 'zone-a', subzone: 'nvl-1', weight: 80 },
  { id: 'gpu-a2', zone: 'zone-a', subzone: 'nvl-2', weight: 40 },
  { id: 'gpu-b1', zone: 'zone-b', subzone: 'nvl-3', weight: 60 },
  { id: 'gpu-b2', zone: 'zone-b', subzone: 'nvl-4', weight: 20 },
] as const;
const SHARDS = 256;
/** What `$__rate_interval` becomes: several 1 s scrapes, as Grafana computes it for this interval. */
const RATE_INTERVAL = '10s';

function topology(ports: readonly number[], weights: readonly number[]): string {
  const lines = [`shards: ${SHARDS}`, 'replicas: 2', 'spread: subzone', 'endpoints:'];
  NODES.forEach((n, i) => {
    lines.push(
      `  - id: ${n.id}`,
      '    address: 127.0.0.1',
      `    port: ${ports[i]}`,
      `    locality: {region: local, zone: ${n.zone}, subzone: ${n.subzone}}`,
      `    weight: ${weights[i]}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

/**
 * Control-plane activity as the xDS stage will report it: every `periodMs` a change is traced,
 * its shard map recomputed (timed) inside a stage, pushed to five proxies per resource type, and
 * answered after a few milliseconds, one answer in 25 being a NACK.
 */
function simulateControlPlane(server: RunningServer, metrics: KeywayMetrics, periodMs: number): () => void {
  const proxies = [
    ...['envoy-1', 'envoy-2', 'envoy-3'].map((id) => ({ id, flavor: 'envoy' })),
    ...['grpc-1', 'grpc-2'].map((id) => ({ id, flavor: 'grpc' })),
  ];
  const status = new Map<string, string>();
  const types = ['cluster', 'endpoint', 'listener', 'route'];
  metrics.observeProxies(() =>
    proxies.map((p) => ({ flavor: p.flavor, types: Object.fromEntries(types.map((t) => [t, { status: status.get(`${p.id}/${t}`) ?? 'NOT_SENT' }])) })),
  );
  let current: ChangeTrace | undefined;
  const events = xdsEventsRecorder({ metrics, change: () => current });
  const timers = new Set<NodeJS.Timeout>();
  let n = 0;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    n++;
    current?.end('superseded');
    const change = beginChangeTrace({ source: 'file', reason: 'e2e tick', timeoutMs: 5_000, onConverged: (s) => metrics.recordConvergence(s) });
    current = change;
    const view = server.state.current()!;
    change.stage('keyway.sharding', undefined, () => {
      const t0 = performance.now();
      computeShardMap(view.map.endpoints, view.map.policy);
      metrics.recordShardMapCompute((performance.now() - t0) / 1000);
    });
    // An endpoint-only change on most ticks; every fifth tick touches every type.
    const pushed = n % 5 === 0 ? types : ['endpoint'];
    for (const p of proxies) {
      for (const kind of pushed) {
        const sentAt = Date.now();
        events.sent({ nodeId: p.id, kind, version: view.map.version });
        status.set(`${p.id}/${kind}`, 'STALE');
        const timer = setTimeout(
          () => {
            timers.delete(timer);
            if (stopped) return;
            const at = Date.now();
            if ((n + p.id.length + kind.length) % 25 === 0) {
              events.nacked({ nodeId: p.id, kind, version: view.map.version, sentAt, at, message: 'simulated rejection' });
              status.set(`${p.id}/${kind}`, 'NACKED');
            } else {
              events.acked({ nodeId: p.id, kind, version: view.map.version, sentAt, at });
              status.set(`${p.id}/${kind}`, 'SYNCED');
            }
          },
          2 + ((n * 7 + p.id.length * 3) % 15),
        );
        timers.add(timer);
      }
    }
    change.sealed();
  };
  const interval = setInterval(tick, periodMs);
  tick();
  return () => {
    stopped = true;
    clearInterval(interval);
    for (const t of timers) clearTimeout(t);
    current?.end();
  };
}

/**
 * Cache traffic as a proxy routed by keyway sends it: each request goes to its shard's primary,
 * a few to a replica, and one in twenty to a node that does not own the shard (a stale proxy).
 * Keys are skewed so that L1 sees hits.
 */
function sendTraffic(server: RunningServer, nodes: readonly RunningCacheNode[], perTick: number, periodMs: number): { stop: () => Promise<void>; sent: () => number } {
  let sent = 0;
  let i = 0;
  let stopped = false;
  let inFlight: Promise<unknown> = Promise.resolve();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const tick = (): void => {
    if (stopped) return;
    const map = server.state.current()!.map;
    const batch: Promise<unknown>[] = [];
    for (let k = 0; k < perTick; k++, i++) {
      const key = `doc:${Math.floor(Math.pow((i * 7919) % 1000, 2) / 2000)}`; // 0..499, low ids far more often
      const shard = keyToShard(key, SHARDS);
      const owners = map.owners[shard]!;
      let target = owners[0]!;
      if (i % 20 === 7) target = NODES.map((n) => n.id).find((id) => !owners.includes(id)) ?? target;
      else if (i % 20 === 11 && owners[1]) target = owners[1];
      const node = byId.get(target)!;
      batch.push(
        httpRequest(`${node.url}/kv/${encodeURIComponent(key)}`, { headers: { 'x-cache-shard': String(shard) }, timeoutMs: 5_000 }).then(
          () => sent++,
          () => {},
        ),
      );
    }
    inFlight = Promise.all(batch);
  };
  const interval = setInterval(tick, periodMs);
  return {
    sent: () => sent,
    stop: async () => {
      stopped = true;
      clearInterval(interval);
      await inFlight;
    },
  };
}

/** Series of a result whose value is a finite number. */
function finiteSeries(r: QueryResult | undefined): number {
  return r ? r.series.filter((s) => Number.isFinite(Number(s.value[1]))).length : 0;
}

function describeResult(r: QueryResult): string {
  return r.series
    .slice(0, 3)
    .map((s) => `${JSON.stringify(s.metric)}=${s.value[1]}`)
    .join('; ');
}

describe('observability: Prometheus scrapes keyway and cache nodes; every dashboard query returns data', { skip }, () => {
  test('every PromQL expression of every panel returns at least one series', { timeout: 180_000 }, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keyway-observability-'));
    const file = path.join(dir, 'topology.yaml');
    const ports = await freePorts(NODES.length);
    writeFileSync(file, topology(ports, NODES.map((n) => n.weight)));
    const metrics = createKeywayMetrics();
    const cleanups: (() => Promise<void> | void)[] = [];
    t.after(async () => {
      for (const c of cleanups.reverse()) await c();
      await metrics.shutdown();
      rmSync(dir, { recursive: true, force: true });
    });

    const server = await startServer({
      configFile: file,
      httpPort: 0,
      host: '127.0.0.1',
      stages: [metricsStage(metrics)],
      fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 200 }, pollIntervalMs: 100 },
    });
    cleanups.push(() => server.close());
    const keywayUrl = `http://127.0.0.1:${server.httpPort}`;

    const nodes: RunningCacheNode[] = [];
    for (const [i, n] of NODES.entries()) {
      nodes.push(await startCacheNodeServer({ id: n.id, port: ports[i]!, keywayUrl, l1Capacity: 60, l2Capacity: 400, l3DelayMs: 1, pollIntervalMs: 200 }));
    }
    cleanups.push(() => Promise.all(nodes.map((n) => n.close())).then(() => {}));
    await waitUntil(() => nodes.every((n) => n.ownership() !== undefined), Boolean, { timeoutMs: 10_000, what: 'every cache node reading its shards' });

    const stopControlPlane = simulateControlPlane(server, metrics, 250);
    cleanups.push(stopControlPlane);
    const traffic = sendTraffic(server, nodes, 25, 100);
    cleanups.push(() => traffic.stop());

    const prometheus: PrometheusProcess = await startPrometheus({
      jobs: [
        { job: 'keyway', targets: [`127.0.0.1:${server.httpPort}`] },
        { job: 'keyway-cache-nodes', targets: nodes.map((n) => `127.0.0.1:${n.httpPort}`) },
      ],
      scrapeIntervalS: 1,
    });
    cleanups.push(() => prometheus.stop());
    assert.match(prometheus.configCheck, /SUCCESS/);
    assert.match(promtoolCheckConfig(path.join(REPO, 'manifests/grafana/prometheus-scrape-example.yml')), /SUCCESS/);

    const targets = await waitUntil(
      () => prometheus.targets(),
      (ts) => ts.length === 1 + NODES.length && ts.every((x) => x.health === 'up'),
      { timeoutMs: 30_000, intervalMs: 500, what: 'every scrape target up' },
    );
    assert.deepEqual(targets.map((x) => x.job).sort(), ['keyway', ...NODES.map(() => 'keyway-cache-nodes')].sort());

    // A scale event while Prometheus watches: gpu-b2's weight triples, so shards move to it.
    const before = server.state.current()!.map.version;
    await waitUntil(() => prometheus.query('keyway_shardmap_info'), (r) => r.series.length > 0, { timeoutMs: 20_000, intervalMs: 500, what: 'keyway_shardmap_info scraped' });
    const tmp = path.join(dir, 'topology.next');
    writeFileSync(tmp, topology(ports, [80, 40, 60, 60]));
    renameSync(tmp, file);
    await waitUntil(() => server.state.current()!.map.version, (v) => v !== before, { timeoutMs: 10_000, what: 'the reweighted shard map' });
    await waitUntil(() => prometheus.query('keyway_shards_moved_total > 0'), (r) => r.series.length > 0, {
      timeoutMs: 20_000,
      intervalMs: 500,
      what: 'the moves scraped',
    });

    const queries = DASHBOARD_FILES.flatMap((f) => queriesOf(loadDashboard(f))).map((q) => ({
      ...q,
      promql: substitute(q.expr, {}, { __rate_interval: RATE_INTERVAL, __interval: '2s', __range: '5m', __range_s: '300', __range_ms: '300000' }),
    }));
    assert.ok(queries.length >= 25, `expected the dashboards' queries, found ${queries.length}`);
    const evaluate = async () =>
      Promise.all(
        queries.map(async (q) => {
          try {
            return { q, result: await prometheus.query(q.promql), error: undefined };
          } catch (err) {
            return { q, result: undefined, error: (err as Error).message };
          }
        }),
      );
    // Rates need a few scrapes after the change, and the histograms' windows need events in them.
    let results = await evaluate();
    try {
      results = await waitUntil(evaluate, (rs) => rs.every((r) => finiteSeries(r.result) > 0), {
        timeoutMs: 60_000,
        intervalMs: 1_000,
        what: 'every dashboard query to return a series',
      });
    } catch {
      results = await evaluate();
    }
    const empty = results.filter((r) => !r.result || r.result.series.length === 0);
    assert.deepEqual(
      empty.map((r) => `${r.q.dashboard} / ${r.q.panel} [${r.q.refId}]: ${r.error ?? 'no series'}\n    ${r.q.promql}`),
      [],
      'dashboard queries without data',
    );
    // Beyond "a series": each query has a number to draw (a histogram quantile of an idle type is NaN, but not all of them).
    const blank = results.filter((r) => finiteSeries(r.result) === 0);
    assert.deepEqual(
      blank.map((r) => `${r.q.dashboard} / ${r.q.panel} [${r.q.refId}]: ${describeResult(r.result!)}`),
      [],
      'dashboard queries whose every series is NaN or infinite',
    );
    t.diagnostic(`${results.length} dashboard queries evaluated; ${traffic.sent()} cache requests sent`);
    if (process.env.KEYWAY_E2E_DEBUG) for (const r of results) t.diagnostic(`${r.q.panel} [${r.q.refId}]: ${describeResult(r.result!)}`);

    // Template variables: label_values(selector, label) through the label-values API.
    for (const f of DASHBOARD_FILES) {
      for (const v of labelValuesQueries(loadDashboard(f))) {
        const values = await prometheus.labelValues(v.label, substitute(v.selector));
        assert.ok(values.length > 0, `${f}: variable ${v.name} has no values`);
      }
    }
    assert.deepEqual((await prometheus.labelValues('subzone', 'keyway_shards_owned')).sort(), ['nvl-1', 'nvl-2', 'nvl-3', 'nvl-4']);

    // The numbers mean what the panels say they mean.
    const one = (panel: string, refId = 'A'): QueryResult => {
      const r = results.find((x) => x.q.panel === panel && x.q.refId === refId);
      assert.ok(r?.result, `panel ${panel} [${refId}]`);
      return r.result;
    };
    const nonOwner = Number(one('Requests served by a non-owner').series[0]!.value[1]);
    assert.ok(nonOwner > 0.01 && nonOwner < 0.15, `about 1 request in 20 goes to a non-owner: ${nonOwner}`);
    assert.ok(Number(one('Shards moved per change (mean since start)').series[0]!.value[1]) > 0, 'the reweight moved shards');
    const moved = await prometheus.query('keyway_shards_moved_total');
    assert.equal(Number(moved.series[0]!.value[1]), server.state.current()!.diff!.moves.length, 'the reweight is counted once');
    const shares = one('Primary share by fabric against weight share', 'A').series;
    const weights = one('Primary share by fabric against weight share', 'B').series;
    assert.equal(shares.length, 4, describeResult(one('Primary share by fabric against weight share', 'A')));
    for (const s of shares) {
      const w = weights.find((x) => x.metric.subzone === s.metric.subzone);
      assert.ok(w, `weight share of ${s.metric.subzone}`);
      assert.ok(Math.abs(Number(s.value[1]) - Number(w.value[1])) < 0.1, `${s.metric.subzone}: led share ${s.value[1]} vs weight share ${w.value[1]}`);
    }
    const l1 = one('L1 hit rate by fabric').series;
    assert.ok(l1.every((s) => Number(s.value[1]) >= 0 && Number(s.value[1]) <= 1));
    assert.ok(l1.some((s) => Number(s.value[1]) > 0.2), `skewed keys should hit L1: ${describeResult(one('L1 hit rate by fabric'))}`);
    const connected = one('Connected proxies').series;
    assert.deepEqual(
      Object.fromEntries(connected.map((s) => [s.metric.flavor, Number(s.value[1])])),
      { envoy: 3, grpc: 2 },
    );
  });
});
