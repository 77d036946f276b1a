/**
 * The Locality dashboard against the deployment the manifests ship: two keyway replicas (and three
 * during a rollout, maxSurge 1), each scraped on its own (docs/observability.md "Dashboards"), each
 * exporting the same per-endpoint gauges and counting the same shard-map changes. A panel that
 * counts must show the fleet's numbers once, not once per replica. Evaluated by promtool's rule
 * unit tests over synthetic series.
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

/** S = 1024, R = 2 over three endpoints in two zones: [id, zone, subzone, owned, primary, weight]. */
const ENDPOINTS = [
  ['e1', 'z1', 'f1', 700, 350, 2],
  ['e2', 'z1', 'f2', 500, 250, 1],
  ['e3', 'z2', 'f3', 848, 424, 2],
] as const;
const OWNED = 2048;
const WEIGHT = 5;

function inputSeries(replicas: number): { series: string; values: string }[] {
  const out: { series: string; values: string }[] = [];
  for (let r = 1; r <= replicas; r++) {
    const target = `job="keyway",instance="10.0.0.${r}:8080"`;
    for (const [id, zone, subzone, owned, primary, weight] of ENDPOINTS) {
      const labels = `${target},endpoint="${id}",region="r",zone="${zone}",subzone="${subzone}"`;
      out.push({ series: `keyway_shards_owned{${labels}}`, values: `${owned}x6` });
      out.push({ series: `keyway_shards_primary{${labels}}`, values: `${primary}x6` });
      out.push({ series: `keyway_endpoint_weight{${labels}}`, values: `${weight}x6` });
      out.push({ series: `keyway_endpoint_ready{${labels}}`, values: '1x6' });
    }
    // One change moved 100 shards at minute 3; every replica saw it (the first map counted at start).
    out.push({ series: `keyway_shards_moved_total{${target}}`, values: '0 0 0 100 100 100 100' });
    out.push({ series: `keyway_shardmap_changes_total{${target}}`, values: '1 1 1 2 2 2 2' });
  }
  return out;
}

/** The Locality panel's query `refId`, as Grafana sends it (All selected; a 5 m rate window fits the 1 m samples). */
function query(panel: string, refId: string): string {
  const q = queriesOf(loadDashboard('keyway-locality.json')).find((x) => x.panel === panel && x.refId === refId);
  assert.ok(q, `Locality has a query ${refId} on panel "${panel}"`);
  return substitute(q.expr, {}, { ...GRAFANA_GLOBALS, __rate_interval: '5m' });
}

const byEndpoint = (pick: (e: (typeof ENDPOINTS)[number]) => number) =>
  ENDPOINTS.map((e) => ({ labels: `{endpoint="${e[0]}",zone="${e[1]}",subzone="${e[2]}"}`, value: pick(e) }));

/** Runs promtool's unit test of `expectations` over `replicas` replicas; the failures it prints, or ''. */
function promtoolFailures(replicas: number, expectations: { expr: string; exp_samples: { labels: string; value: number }[] }[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-dash-replicas-'));
  try {
    const file = path.join(dir, 'test.yml');
    const tests = [{ interval: '1m', input_series: inputSeries(replicas), promql_expr_test: expectations.map((e) => ({ ...e, eval_time: '5m' })) }];
    writeFileSync(file, JSON.stringify({ rule_files: [], evaluation_interval: '1m', tests }));
    const r = spawnSync(PROMTOOL!, ['test', 'rules', file], { encoding: 'utf8' });
    return r.status === 0 ? '' : `${r.stdout}${r.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const EXPECTED = () => [
  { expr: query('Shards per endpoint', 'A'), exp_samples: byEndpoint((e) => e[3]) },
  { expr: query('Shards per endpoint', 'B'), exp_samples: byEndpoint((e) => e[4]) },
  { expr: query('Shards per endpoint', 'C'), exp_samples: byEndpoint((e) => e[5]) },
  { expr: query('Shards per endpoint', 'D'), exp_samples: byEndpoint(() => 1) },
  { expr: query('Shards moved', 'A'), exp_samples: [{ labels: '{}', value: 100 }] },
  { expr: query('Shards moved', 'B'), exp_samples: [{ labels: '{}', value: 1 }] },
  // One bar per endpoint, at its share of owner slots over its share of ready weight.
  { expr: query('Share over weight share, per endpoint', 'A'), exp_samples: byEndpoint((e) => e[3] / OWNED / (e[5] / WEIGHT)) },
];

test('with one keyway replica, the counting panels of the Locality dashboard show the map', { skip }, () => {
  assert.equal(promtoolFailures(1, EXPECTED()), '');
});

test('with two replicas (and three during a rollout) they show the same numbers, once per endpoint', { skip }, () => {
  for (const replicas of [2, 3]) assert.equal(promtoolFailures(replicas, EXPECTED()), '', `${replicas} replicas`);
});
