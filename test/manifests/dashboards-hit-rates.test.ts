/**
 * The Locality dashboard's hit-rate panels against cache nodes whose L1 never hits: a node that
 * just took shards, or a fleet just restarted. A counter series exists only once it was counted, so
 * such a node exports `tier="l1",result="miss"` and no `result="hit"` series at all. Its hit rate is
 * 0 and must show as 0: the panel of the lowest hit rates exists to name exactly these shards.
 * Evaluated by promtool's rule unit tests over synthetic series.
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

type Tier = 'l1' | 'l2' | 'l3';
/** Per minute, the lookups of one node for one shard: [tier, result, count]. */
type Lookups = readonly (readonly [Tier, 'hit' | 'miss', number])[];

/** A warm node: 16 requests a minute for shard 1, 12 from L1 and 4 from L2 (shares exact in binary). */
const WARM: Lookups = [
  ['l1', 'hit', 12],
  ['l1', 'miss', 4],
  ['l2', 'hit', 4],
];
/** A cold node: 16 requests a minute for shard 2, every one missing L1 and L2. */
const COLD: Lookups = [
  ['l1', 'miss', 16],
  ['l2', 'miss', 16],
  ['l3', 'hit', 16],
];

interface Node {
  readonly node: string;
  readonly subzone: string;
  readonly shard: number;
  readonly lookups: Lookups;
}

/**
 * Series past a per-shard series limit, which the SDK folds into one carrying only
 * `otel_metric_overflow="true"` (no tier, result or locality): no panel may show it as a tier.
 */
const OVERFLOW = { series: 'keyway_cache_lookups_total{job="keyway-cache-nodes",instance="n2:7000",otel_metric_overflow="true"}', values: '0+5x10' };

function inputSeries(nodes: readonly Node[]): { series: string; values: string }[] {
  const perNode = nodes.flatMap((n) => {
    const labels = `job="keyway-cache-nodes",instance="${n.node}:7000",node="${n.node}",region="r",zone="z1",subzone="${n.subzone}",shard="${n.shard}"`;
    return [
      { series: `keyway_cache_requests_total{${labels},owner="true"}`, values: '0+16x10' },
      ...n.lookups.map(([tier, result, count]) => ({ series: `keyway_cache_lookups_total{${labels},tier="${tier}",result="${result}"}`, values: `0+${count}x10` })),
    ];
  });
  return [OVERFLOW, ...perNode];
}

/** The Locality panel's query `refId`, as Grafana sends it (All selected; a 5 m window over 1 m samples). */
function query(panel: string, refId = 'A'): string {
  const q = queriesOf(loadDashboard('keyway-locality.json')).find((x) => x.panel === panel && x.refId === refId);
  assert.ok(q, `Locality has a query ${refId} on panel "${panel}"`);
  return substitute(q.expr, {}, { ...GRAFANA_GLOBALS, __rate_interval: '5m', __range: '5m' });
}

/** Runs promtool's unit test of `expectations` over `nodes`; the failures it prints, or ''. */
function promtoolFailures(nodes: readonly Node[], expectations: { expr: string; exp_samples: { labels: string; value: number }[] }[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-dash-hits-'));
  try {
    const file = path.join(dir, 'test.yml');
    const tests = [{ interval: '1m', input_series: inputSeries(nodes), promql_expr_test: expectations.map((e) => ({ ...e, eval_time: '10m' })) }];
    writeFileSync(file, JSON.stringify({ rule_files: [], evaluation_interval: '1m', tests }));
    const r = spawnSync(PROMTOOL!, ['test', 'rules', file], { encoding: 'utf8' });
    return r.status === 0 ? '' : `${r.stdout}${r.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const WARM_NODE: Node = { node: 'n1', subzone: 'f1', shard: 1, lookups: WARM };
const COLD_NODE: Node = { node: 'n2', subzone: 'f2', shard: 2, lookups: COLD };

test('a shard and a fabric whose L1 never hits show a hit rate of 0, and lead the lowest hit rates', { skip }, () => {
  const failures = promtoolFailures(
    [WARM_NODE, COLD_NODE],
    [
      {
        expr: query('L1 hit rate by fabric'),
        exp_samples: [
          { labels: '{subzone="f1"}', value: 0.75 },
          { labels: '{subzone="f2"}', value: 0 },
        ],
      },
      {
        expr: query('L1 hit rate by shard'),
        exp_samples: [
          { labels: '{shard="1"}', value: 0.75 },
          { labels: '{shard="2"}', value: 0 },
        ],
      },
      {
        expr: query('Shards with the lowest L1 hit rate'),
        exp_samples: [
          { labels: '{shard="1",subzone="f1"}', value: 0.75 },
          { labels: '{shard="2",subzone="f2"}', value: 0 },
        ],
      },
      {
        // 32 requests a minute: 12 from L1, 4 from L2, 16 from L3.
        expr: query('Requests answered per tier'),
        exp_samples: [
          { labels: '{tier="l1"}', value: 0.375 },
          { labels: '{tier="l2"}', value: 0.125 },
          { labels: '{tier="l3"}', value: 0.5 },
        ],
      },
    ],
  );
  assert.equal(failures, '');
});

test('with every node cold, the share answered from L1 and L2 is 0, not missing', { skip }, () => {
  const failures = promtoolFailures(
    [COLD_NODE],
    [
      {
        expr: query('Requests answered per tier'),
        exp_samples: [
          { labels: '{tier="l1"}', value: 0 },
          { labels: '{tier="l2"}', value: 0 },
          { labels: '{tier="l3"}', value: 1 },
        ],
      },
    ],
  );
  assert.equal(failures, '');
});

test('the check sees a missing series: the unfixed query of the lowest hit rates drops the cold shard', { skip }, () => {
  const unfixed =
    'bottomk(10, sum by (shard, subzone) (increase(keyway_cache_lookups_total{shard!="",tier="l1",result="hit"}[5m])) / sum by (shard, subzone) (increase(keyway_cache_lookups_total{shard!="",tier="l1"}[5m])))';
  const failures = promtoolFailures([WARM_NODE, COLD_NODE], [{ expr: unfixed, exp_samples: [{ labels: '{shard="1",subzone="f1"}', value: 0.75 }, { labels: '{shard="2",subzone="f2"}', value: 0 }] }]);
  assert.match(failures, /FAILED/);
});
