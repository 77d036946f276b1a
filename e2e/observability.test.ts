/**
 * Observability end to end (docs/observability.md), every part real: `keyway serve` (child process) on a
 * topology of four example cache nodes (examples/cache-node, which learn their shards from keyway's
 * `/v1/shardmap` and export hits, misses and non-owner requests), a real Envoy connected to keyway
 * over ADS that routes the cache traffic by `x-cache-shard`, and a real Prometheus scraping keyway's
 * `GET /metrics` and the nodes every second. A few requests go straight to a node that does not own
 * their shard, as a client with a stale map would send them. Mid-run the topology is reweighted (a
 * scale event), then nudged every two seconds while the dashboards are read, so that every rate
 * window holds a change: pushes, ACKs, convergence and moves all come from keyway's own pipeline.
 *
 * Then every PromQL expression of every panel of both Grafana dashboards (and every template
 * variable query) is evaluated through Prometheus's HTTP API and must return at least one series
 * with a finite value, and the main numbers are checked against what keyway and the test know.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { keyToShard } from '../src/sharding/index.js';
import { startCacheNodeServer, type RunningCacheNode } from '../examples/cache-node/server.js';
import { DASHBOARD_FILES, labelValuesQueries, loadDashboard, queriesOf, substitute } from '../test/telemetry/support/dashboards.js';
import { adsBootstrap } from './support/bootstrap.js';
import { envoySkipReason, startEnvoy } from './support/envoy.js';
import { httpGetText, httpRequest } from './support/http.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePorts } from './support/ports.js';
import { prometheusSkipReason, promtoolCheckConfig, startPrometheus, type PrometheusProcess, type QueryResult } from './support/prometheus.js';
import { eventually } from '../test/support/eventually.js';
import type { ProxiesBody, ShardMapBody } from '../test/support/rest-bodies.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Both are evaluated, so KEYWAY_REQUIRE_E2E=1 fails on whichever is missing.
const skipReasons = [envoySkipReason(), prometheusSkipReason()].filter((r): r is string => typeof r === 'string');
const skip = skipReasons.length > 0 ? skipReasons.join('; ') : false;

const NODES = [
  { id: 'gpu-a1', zone: 'zone-a', subzone: 'nvl-1' },
  { id: 'gpu-a2', zone: 'zone-a', subzone: 'nvl-2' },
  { id: 'gpu-b1', zone: 'zone-b', subzone: 'nvl-3' },
  { id: 'gpu-b2', zone: 'zone-b', subzone: 'nvl-4' },
] as const;
const SHARDS = 256;
const SERVICE = 'keyway-cache';
const ENVOY_NODE_ID = 'envoy-observability';
/** Weights before the scale event; then gpu-b2 goes 20 -> 60 (88 shards move), then alternates 50 / 60 (16 move each time). */
const WEIGHTS_BEFORE = [80, 40, 60, 20];
const WEIGHTS_SCALED = [80, 40, 60, 60];
const WEIGHTS_NUDGED = [80, 40, 60, 50];
/** At most this many nudges: with the scale event they stay within keyway's change history (32). */
const MAX_NUDGES = 20;
/** What `$__rate_interval` becomes: several 1 s scrapes, as Grafana computes it for this interval. */
const RATE_INTERVAL = '10s';
/** Every 20th request goes directly to a node that does not own its shard. */
const DIRECT_EVERY = 20;
/** Upper bound on the cache requests of one run. */
const MAX_REQUESTS = 15_000;

interface ChangesBody {
  changes: { fromVersion: string; toVersion: string; movedShards: number }[];
}

function topology(nodePorts: readonly number[], listenerPort: number, weights: readonly number[]): string {
  const lines = [
    `shards: ${SHARDS}`,
    'replicas: 2',
    'spread: subzone',
    `service: ${SERVICE}`,
    `envoy: {listenerPort: ${listenerPort}, missingHeader: any, upstreamProtocol: http1}`,
    'xds: {holdOffMs: 20, maxDelayMs: 200}',
    'endpoints:',
  ];
  NODES.forEach((n, i) => {
    lines.push(
      `  - id: ${n.id}`,
      '    address: 127.0.0.1',
      `    port: ${nodePorts[i]}`,
      `    locality: {region: local, zone: ${n.zone}, subzone: ${n.subzone}}`,
      `    weight: ${weights[i]}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

interface TrafficCounts {
  viaEnvoy: number;
  viaEnvoyFailed: number;
  direct: number;
  directFailed: number;
}

/**
 * Cache traffic as clients send it: each batch computes the shard of each key by hash contract 1
 * and sends it through Envoy's listener with `x-cache-shard`; one request in {@link DIRECT_EVERY}
 * goes straight to a node that does not own the shard (per keyway's `/v1/shardmap`, re-read every
 * few batches). Keys are skewed so that L1 sees hits. One batch at a time, so a slow machine
 * lowers the rate instead of piling up requests.
 */
function sendTraffic(opts: {
  readonly listenerUrl: string;
  readonly keywayUrl: string;
  readonly nodeUrl: (id: string) => string;
  readonly perBatch: number;
  readonly pauseMs: number;
}): { stop: () => Promise<void>; counts: () => TrafficCounts } {
  const counts: TrafficCounts = { viaEnvoy: 0, viaEnvoyFailed: 0, direct: 0, directFailed: 0 };
  let stopped = false;
  let owners: (readonly string[])[] | undefined;
  const run = async (): Promise<void> => {
    let i = 0;
    for (let batch = 0; !stopped && i < MAX_REQUESTS; batch++) {
      if (batch % 5 === 0 || !owners) {
        try {
          owners = (JSON.parse(await httpGetText(`${opts.keywayUrl}/v1/shardmap`)) as ShardMapBody).shards.map((s) => s.owners);
        } catch {
          // keep the last map, as a client would
        }
      }
      const sends: Promise<void>[] = [];
      for (let k = 0; k < opts.perBatch; k++, i++) {
        const key = `doc:${Math.floor(Math.pow((i * 7919) % 1000, 2) / 2000)}`; // 0..499, low ids far more often
        const shard = keyToShard(key, SHARDS);
        const headers = { 'x-cache-shard': String(shard) };
        const nonOwner = owners ? NODES.map((n) => n.id).find((id) => !owners![shard]!.includes(id)) : undefined;
        if (i % DIRECT_EVERY === 7 && nonOwner) {
          sends.push(
            httpRequest(`${opts.nodeUrl(nonOwner)}/kv/${encodeURIComponent(key)}`, { headers, timeoutMs: 5_000 }).then(
              (r) => {
                if (r.status === 200) counts.direct++;
                else counts.directFailed++;
              },
              () => {
                counts.directFailed++;
              },
            ),
          );
        } else {
          sends.push(
            // An answer from a cache node names it; one from Envoy itself (503: no healthy host) does not.
            httpRequest(`${opts.listenerUrl}/kv/${encodeURIComponent(key)}`, { headers, timeoutMs: 5_000 }).then(
              (r) => {
                if (r.status === 200 && r.headers['x-served-by']) counts.viaEnvoy++;
                else counts.viaEnvoyFailed++;
              },
              () => {
                counts.viaEnvoyFailed++;
              },
            ),
          );
        }
      }
      await Promise.all(sends);
      await sleep(opts.pauseMs);
    }
  };
  const done = run();
  return {
    counts: () => ({ ...counts }),
    stop: async () => {
      stopped = true;
      await done;
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

/** The first series' value of an instant query, or NaN when there is none. */
async function scalarOf(prometheus: PrometheusProcess, expr: string): Promise<number> {
  const r = await prometheus.query(expr);
  return r.series.length > 0 ? Number(r.series[0]!.value[1]) : Number.NaN;
}

describe('observability: Prometheus scrapes keyway serve (with a real Envoy) and cache nodes; every dashboard query returns data', { skip }, () => {
  test('every PromQL expression of every panel returns a finite series', { timeout: 180_000 }, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keyway-observability-'));
    const file = path.join(dir, 'topology.yaml');
    const [listenerPort, ...nodePorts] = await freePorts(1 + NODES.length);
    let writes = 0;
    const writeTopology = (weights: readonly number[]): void => {
      // Atomically, so keyway's file source sees one complete file.
      const tmp = path.join(dir, `.topology.${writes++}.tmp`);
      writeFileSync(tmp, topology(nodePorts, listenerPort!, weights));
      renameSync(tmp, file);
    };
    writeTopology(WEIGHTS_BEFORE);

    const cleanups: (() => Promise<void> | void)[] = [];
    t.after(async () => {
      for (const c of cleanups.reverse()) {
        try {
          await c();
        } catch (err) {
          t.diagnostic(`cleanup: ${(err as Error).message}`);
        }
      }
      if (process.env.KEYWAY_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    });

    // Generous start-up bound: tsx compiles keyway's sources on a loaded 2-core machine.
    const keyway: KeywayProcess = await startKeyway({ configPath: file, readyTimeoutMs: 45_000 });
    cleanups.push(() => keyway.stop());
    const api = async <T>(p: string): Promise<T> => JSON.parse(await httpGetText(`${keyway.httpUrl}${p}`)) as T;

    const nodes: RunningCacheNode[] = [];
    cleanups.push(() => Promise.all(nodes.map((n) => n.close())).then(() => {}));
    for (const [i, n] of NODES.entries()) {
      nodes.push(await startCacheNodeServer({ id: n.id, port: nodePorts[i]!, keywayUrl: keyway.httpUrl, l1Capacity: 60, l2Capacity: 400, l3DelayMs: 1, pollIntervalMs: 200, shardMetrics: true }));
    }
    const nodeUrl = (id: string): string => nodes.find((n) => n.id === id)!.url;

    // Envoy and Prometheus start side by side: both only need ports that are known by now.
    const [envoy, prometheus] = await Promise.all([
      startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: ENVOY_NODE_ID }) }),
      startPrometheus({
        jobs: [
          { job: 'keyway', targets: [`127.0.0.1:${keyway.httpPort}`] },
          { job: 'keyway-cache-nodes', targets: nodes.map((n) => `127.0.0.1:${n.httpPort}`) },
        ],
        scrapeIntervalS: 1,
      }),
    ]);
    cleanups.push(() => envoy.stop(), () => prometheus.stop());
    const diag = (): string => `\n--- envoy log ---\n${envoy.logTail(20)}\n--- keyway log ---\n${keyway.logTail(20)}`;
    assert.match(prometheus.configCheck, /SUCCESS/);
    assert.match(promtoolCheckConfig(path.join(REPO, 'manifests/grafana/prometheus-scrape-example.yml')), /SUCCESS/);

    await eventually('every cache node reading its shards', () => nodes.every((n) => n.ownership() !== undefined), { accept: Boolean, timeoutMs: 10_000 });
    // Every primary and its priority-1 replica alias through the active health check (GET /healthz).
    await eventually(`healthy hosts in Envoy's cluster ${SERVICE}`, () => envoy.clusters(SERVICE), { accept: (hosts) => hosts.length > NODES.length && hosts.every((h) => h.healthy), timeoutMs: 30_000, intervalMs: 200 }).catch((err: Error) => assert.fail(`${err.message}${diag()}`));

    const traffic = sendTraffic({ listenerUrl: `http://127.0.0.1:${listenerPort}`, keywayUrl: keyway.httpUrl, nodeUrl, perBatch: 15, pauseMs: 100 });
    cleanups.push(() => traffic.stop());

    const targets = await eventually('every scrape target up', () => prometheus.targets(), { accept: (ts) => ts.length === 1 + NODES.length && ts.every((x) => x.health === 'up'), timeoutMs: 30_000, intervalMs: 500 });
    assert.deepEqual(targets.map((x) => x.job).sort(), ['keyway', ...NODES.map(() => 'keyway-cache-nodes')].sort());
    await eventually('cache requests scraped', () => scalarOf(prometheus, 'sum(keyway_cache_requests_total)'), { accept: (n) => n > 0, timeoutMs: 20_000, intervalMs: 500 });

    // The scale event while Prometheus watches: gpu-b2's weight triples, keyway pushes the new
    // endpoints to Envoy, and Envoy's ACK ends the change (convergence).
    const weightOf = async (id: string): Promise<number | undefined> => (await api<ShardMapBody>('/v1/shardmap')).endpoints.find((e) => e.id === id)?.weight;
    writeTopology(WEIGHTS_SCALED);
    await eventually('the reweighted shard map', () => weightOf('gpu-b2'), { accept: (w) => w === 60, timeoutMs: 15_000 });
    await eventually("Envoy's ACK of the change scraped as a convergence", () => scalarOf(prometheus, 'sum(keyway_convergence_seconds_count)'), { accept: (n) => n >= 1, timeoutMs: 20_000, intervalMs: 500 }).catch((err: Error) => assert.fail(`${err.message}${diag()}`));

    // Small reweights every 2 s while the dashboards are read, so each rate window holds a change.
    const nudging = new AbortController();
    let nudges = 0;
    const nudger = (async () => {
      while (nudges < MAX_NUDGES) {
        try {
          await sleep(2_000, undefined, { signal: nudging.signal });
        } catch {
          return;
        }
        nudges++;
        writeTopology(nudges % 2 === 1 ? WEIGHTS_NUDGED : WEIGHTS_SCALED);
      }
    })();
    const stopNudging = async (): Promise<void> => {
      nudging.abort();
      await nudger;
    };
    cleanups.push(stopNudging);

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
    // Rates need a few scrapes, and the histograms' windows need events in them. A counter's series
    // starts at its first increment and rate() needs two samples of it, so the non-owner share reads
    // 0 (its `or vector(0)`) until the owner="false" series has been scraped twice: wait for that too.
    const nonOwnerShare = (rs: Awaited<ReturnType<typeof evaluate>>): number =>
      Number(rs.find((r) => r.q.panel === 'Requests served by a non-owner')?.result?.series[0]?.value[1] ?? 0);
    let results = await evaluate();
    try {
      results = await eventually('every dashboard query to return a finite series, and some requests to reach a non-owner', evaluate, {
        accept: (rs) => rs.every((r) => finiteSeries(r.result) > 0) && nonOwnerShare(rs) > 0,
        timeoutMs: 45_000,
        intervalMs: 1_000,
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
    // Envoy sends every request to an owner of its shard; only the direct ones reach a non-owner.
    // The lower bound is only "some": under load the direct requests' share of the rate window
    // varied (0.009 to 0.05 seen on a busy machine), while Envoy's own misses would push it up.
    const nonOwner = Number(one('Requests served by a non-owner').series[0]!.value[1]);
    assert.ok(nonOwner > 0 && nonOwner < 0.15, `about 1 request in ${DIRECT_EVERY} goes to a non-owner: ${nonOwner}`);
    assert.ok(Number(one('Shards moved per change (mean since start)').series[0]!.value[1]) > 0, 'the reweights moved shards');
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
    assert.deepEqual(
      Object.fromEntries(one('Connected proxies').series.map((s) => [s.metric.flavor, Number(s.value[1])])),
      { envoy: 1, grpc: 0, agent: 0 },
      'one Envoy connected over ADS (these cache nodes poll REST: no agent)',
    );

    // Settle: no more edits, keyway serves the last one, Envoy is in sync on every type.
    await stopNudging();
    const finalWeight = (nudges % 2 === 1 ? WEIGHTS_NUDGED : WEIGHTS_SCALED)[3];
    await eventually('the last reweight served', () => weightOf('gpu-b2'), { accept: (w) => w === finalWeight, timeoutMs: 15_000 });
    const row = await eventually('Envoy SYNCED on every type in /v1/proxies', async () => (await api<ProxiesBody>('/v1/proxies')).proxies.find((p) => p.id === ENVOY_NODE_ID), { accept: (r) => !!r && Object.values(r.types).every((x) => x.status === 'SYNCED'), timeoutMs: 15_000 });
    assert.equal(row!.flavor, 'envoy');

    // Moves: keyway_shards_moved_total as scraped equals the sum of the real diffs in /v1/changes.
    const { changes } = await api<ChangesBody>('/v1/changes');
    assert.ok(changes.length >= 1 && changes.length <= 1 + nudges, `the scale event and the nudges (${nudges}): ${changes.length} changes`);
    const movedInChanges = changes.reduce((sum, c) => sum + c.movedShards, 0);
    await eventually(`keyway_shards_moved_total to equal the ${movedInChanges} moves of /v1/changes`, () => scalarOf(prometheus, 'sum(keyway_shards_moved_total)'), { accept: (n) => n === movedInChanges, timeoutMs: 15_000, intervalMs: 500 });
    const converged = await scalarOf(prometheus, 'sum(keyway_convergence_seconds_count)');
    assert.ok(converged >= 1, `convergences recorded: ${converged}`);

    await traffic.stop();
    const counts = traffic.counts();
    assert.ok(counts.viaEnvoy > 100 && counts.direct > 0, `traffic through Envoy and direct: ${JSON.stringify(counts)}`);
    assert.ok(counts.viaEnvoyFailed <= counts.viaEnvoy * 0.01, `requests through Envoy that failed: ${JSON.stringify(counts)}${diag()}`);
    assert.ok(((await envoy.statValue(`cluster.${SERVICE}.upstream_rq_total`)) ?? 0) >= counts.viaEnvoy, 'Envoy counted the requests it routed');
    t.diagnostic(
      `${results.length} dashboard queries evaluated; ${changes.length} changes (${movedInChanges} shards moved, ${converged} converged); traffic ${JSON.stringify(counts)}`,
    );
  });
});
