/**
 * The Control plane dashboard against the deployment the manifests ship: two keyway replicas, each
 * scraped on its own. A proxy (Envoy, gRPC) holds its stream to one replica, so the replicas' counts
 * add up; a cache node's ownership agent holds a stream to every replica (the headless Service
 * keyway-replicas, docs/kubernetes.md "The Deployment"), so each replica counts every agent and
 * adding them up counts each agent once per replica. The same holds for the sync status of the
 * agents' one resource type, `assignment`. Evaluated by promtool's rule unit tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GRAFANA_GLOBALS, loadDashboard, queriesOf, substitute } from '../telemetry/support/dashboards.js';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
const skip = PROMTOOL ? false : 'promtool is not installed';

/** Per replica, the proxies it holds by flavor: 5 Envoys and 2 gRPC clients split, 4 agents on each. */
const CONNECTED = [
  { envoy: 3, grpc: 2, agent: 4 },
  { envoy: 2, grpc: 0, agent: 4 },
  // A third replica during a rollout: the agents found it, no proxy moved yet.
  { envoy: 0, grpc: 0, agent: 4 },
] as const;
const FLEET = { envoy: 5, grpc: 2, agent: 4 };

function inputSeries(replicas: number): { series: string; values: string }[] {
  return CONNECTED.slice(0, replicas).flatMap((byFlavor, i) =>
    Object.entries(byFlavor).map(([flavor, n]) => ({
      series: `keyway_xds_proxies_connected{job="keyway",instance="10.0.0.${i + 1}:8080",flavor="${flavor}"}`,
      values: `${n}x6`,
    })),
  );
}

function query(panel: string, refId = 'A'): string {
  const q = queriesOf(loadDashboard('keyway-control-plane.json')).find((x) => x.panel === panel && x.refId === refId);
  assert.ok(q, `Control plane has a query ${refId} on panel "${panel}"`);
  return substitute(q.expr, {}, { ...GRAFANA_GLOBALS, __rate_interval: '5m' });
}

function promtoolFailures(replicas: number, exprs: readonly string[]): string {
  const exp_samples = Object.entries(FLEET).map(([flavor, value]) => ({ labels: `{flavor="${flavor}"}`, value }));
  return promtoolRun(inputSeries(replicas), exprs.map((expr) => ({ expr, exp_samples })));
}

type Expectation = { expr: string; exp_samples: { labels: string; value: number }[] };

/** Runs promtool's unit test of `expectations` at 5 m over `input_series`; the failures it prints, or ''. */
function promtoolRun(input_series: { series: string; values: string }[], expectations: readonly Expectation[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-dash-cp-'));
  try {
    const file = path.join(dir, 'test.yml');
    const tests = [{ interval: '1m', input_series, promql_expr_test: expectations.map((e) => ({ ...e, eval_time: '5m' })) }];
    writeFileSync(file, JSON.stringify({ rule_files: [], evaluation_interval: '1m', tests }));
    const r = spawnSync(PROMTOOL!, ['test', 'rules', file], { encoding: 'utf8' });
    return r.status === 0 ? '' : `${r.stdout}${r.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('with two replicas (three during a rollout), connected proxies add up and each agent counts once', { skip }, () => {
  for (const replicas of [2, 3]) {
    assert.equal(promtoolFailures(replicas, [query('Connected proxies'), query('Proxies by flavor')]), '', `${replicas} replicas`);
  }
});

test('the check sees agents counted once per replica', { skip }, () => {
  assert.match(promtoolFailures(2, ['sum by (flavor) (keyway_xds_proxies_connected)']), /FAILED/);
});

const TYPES = ['cluster', 'endpoint', 'listener', 'route', 'assignment'] as const;
const STATUSES = ['SYNCED', 'STALE', 'NACKED', 'NOT_SENT'] as const;
type Cells = Partial<Record<(typeof TYPES)[number], Partial<Record<(typeof STATUSES)[number], number>>>>;

/**
 * Per replica, its streams per type and status (keyway exports every cell, zeros included). The
 * proxies of CONNECTED: on the first replica one Envoy has not answered its latest clusters yet;
 * on the second one Envoy rejected its listeners. One of the four agents rejects its assignments,
 * on every replica (each replica sends it the same).
 */
const SYNC: readonly Cells[] = [
  { cluster: { SYNCED: 4, STALE: 1 }, endpoint: { SYNCED: 5 }, listener: { SYNCED: 5 }, route: { SYNCED: 5 }, assignment: { SYNCED: 3, NACKED: 1 } },
  { cluster: { SYNCED: 2 }, endpoint: { SYNCED: 2 }, listener: { SYNCED: 1, NACKED: 1 }, route: { SYNCED: 2 }, assignment: { SYNCED: 3, NACKED: 1 } },
  { assignment: { SYNCED: 3, NACKED: 1 } },
];
/** The fleet: the proxies' type/status pairs add up; each agent counts once. */
const SYNC_FLEET: Cells = {
  cluster: { SYNCED: 6, STALE: 1 },
  endpoint: { SYNCED: 7 },
  listener: { SYNCED: 6, NACKED: 1 },
  route: { SYNCED: 7 },
  assignment: { SYNCED: 3, NACKED: 1 },
};

function syncSeries(replicas: number): { series: string; values: string }[] {
  return SYNC.slice(0, replicas).flatMap((cells, i) =>
    TYPES.flatMap((type) =>
      STATUSES.map((status) => ({
        series: `keyway_xds_proxy_sync_status{job="keyway",instance="10.0.0.${i + 1}:8080",type="${type}",status="${status}"}`,
        values: `${cells[type]?.[status] ?? 0}x6`,
      })),
    ),
  );
}

const syncExpectations = (): Expectation[] => [
  {
    expr: query('Sync status by type'),
    exp_samples: TYPES.flatMap((type) => STATUSES.map((status) => ({ labels: `{type="${type}",status="${status}"}`, value: SYNC_FLEET[type]?.[status] ?? 0 }))),
  },
  // Two proxy/type pairs (a stale cluster, a rejected listener) and the one agent that rejects.
  { expr: query('Proxies not in sync'), exp_samples: [{ labels: '{}', value: 3 }] },
];

test('with two replicas (three during a rollout), sync status counts each agent once', { skip }, () => {
  for (const replicas of [2, 3]) assert.equal(promtoolRun(syncSeries(replicas), syncExpectations()), '', `${replicas} replicas`);
});

test('the check sees an agent counted once per replica in the sync status', { skip }, () => {
  const unfixed = [
    { expr: 'sum by (type, status) (keyway_xds_proxy_sync_status)', exp_samples: syncExpectations()[0]!.exp_samples },
    { expr: 'sum(keyway_xds_proxy_sync_status{status=~"STALE|NACKED"})', exp_samples: [{ labels: '{}', value: 3 }] },
  ];
  assert.match(promtoolRun(syncSeries(2), unfixed.slice(0, 1)), /FAILED/);
  assert.match(promtoolRun(syncSeries(2), unfixed.slice(1)), /FAILED/);
});
