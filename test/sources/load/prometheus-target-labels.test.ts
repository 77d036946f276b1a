// keyway's load gauges as a real Prometheus stores them when the scrape config gives each target a
// `node` (or `shard`) label, as Kubernetes scrape configs often do: Prometheus keeps the target
// label and renames keyway's to `exported_node` (docs/load-reports.md "source: prometheus"). The
// read groups by the label keyway exported; the behaviour against a real Prometheus is checked in
// e2e/prometheus-load-target-labels.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadQuery } from '../../../src/sources/load/prometheus.js';

for (const label of ['shard', 'node'] as const) {
  test(`the query groups ${label} loads by the ${label} label keyway exported, renamed exported_${label} or not`, () => {
    const q = loadQuery(1_000);
    const metric = `keyway_load_${label}_requests_per_second`;
    // The window's scrapes away from its edges (250 ms with a 1 s window), per target matched on
    // every label but the one keyway exported (a target label named like it is matched too:
    // e2e/prometheus-load-windows.test.ts).
    const renamed = `label_replace(max by (exported_${label}) (last_over_time(${metric}{exported_${label}!=""}[600ms] offset 200ms) and ignoring(exported_${label}) (`;
    const plain = `max by (${label}) (last_over_time(${metric}{exported_${label}=""}[600ms] offset 200ms) and ignoring(${label}) (`;
    assert.ok(q.includes(`max by (${label}) (${renamed}`), q);
    assert.ok(q.includes(`, "${label}", "$1", "exported_${label}", "(.*)") or ${plain}`), q);
  });
}
