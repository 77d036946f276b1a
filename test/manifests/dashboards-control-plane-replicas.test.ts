/**
 * The Control plane dashboard against the deployment the manifests ship: two keyway replicas, each
 * scraped on its own. A proxy (Envoy, gRPC) holds its stream to one replica, so the replicas' counts
 * add up; a cache node's ownership agent holds a stream to every replica (the headless Service
 * keyway-replicas, docs/kubernetes.md "The Deployment"), so each replica counts every agent and
 * adding them up counts each agent once per replica. Evaluated by promtool's rule unit tests.
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
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-dash-cp-'));
  try {
    const file = path.join(dir, 'test.yml');
    const exp_samples = Object.entries(FLEET).map(([flavor, value]) => ({ labels: `{flavor="${flavor}"}`, value }));
    const tests = [{ interval: '1m', input_series: inputSeries(replicas), promql_expr_test: exprs.map((expr) => ({ expr, eval_time: '5m', exp_samples })) }];
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
