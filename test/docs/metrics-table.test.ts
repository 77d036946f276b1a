// docs/observability.md's table of keyway's metrics is what operators write queries and alerts
// from: every metric keyway exports must have its row there, with the Prometheus type and the
// label names the exporter renders, and every label value the exporter renders for a label whose
// values the row lists must be among them. A row for a metric keyway does not export fails too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createKeywayMetrics, KEYWAY_METRICS } from '../../src/telemetry/index.js';
import { parseExposition } from '../telemetry/support/exposition.js';
import { feedEveryMetric } from '../telemetry/support/every-metric.js';

interface DocRow {
  readonly type: string;
  /** Label name to the values the row lists for it (empty when it lists none). */
  readonly labels: ReadonlyMap<string, readonly string[]>;
}

/** The rows of the "### keyway" metrics table: `| \`name\` | type | labels | meaning |`. */
function documentedKeywayMetrics(): Map<string, DocRow> {
  const text = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8');
  const section = text.slice(text.indexOf('### keyway\n'), text.indexOf('### Process and runtime'));
  const rows = new Map<string, DocRow>();
  for (const line of section.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const name = /^`(keyway_[a-z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!name) continue;
    assert.ok(!rows.has(name), `${name}: one row`);
    rows.set(name, { type: cells[2]!, labels: labelsOf(cells[3]!) });
  }
  return rows;
}

/** "`flavor` (`envoy`, `grpc`), `type`" -> flavor: [envoy, grpc], type: []. */
function labelsOf(cell: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of cell.matchAll(/`([a-z_]+)`(?:\s*\(([^)]*)\))?/g)) {
    out.set(m[1]!, [...(m[2] ?? '').matchAll(/`([^`]+)`/g)].map((v) => v[1]!));
  }
  return out;
}

/** An exposition where every metric has a sample: each recorder and observer fed once. */
async function exposition(t: { after(fn: () => Promise<void>): void }) {
  const m = createKeywayMetrics();
  t.after(() => m.shutdown());
  feedEveryMetric(m);
  return parseExposition(await m.render());
}

test('docs/observability.md has a row for every keyway metric, with its type and labels', async (t) => {
  const exp = await exposition(t);
  const rows = documentedKeywayMetrics();
  const exported = new Set<string>(Object.values(KEYWAY_METRICS));
  assert.deepEqual([...rows.keys()].filter((n) => !exported.has(n)), [], 'rows for metrics keyway does not export');
  for (const name of exported) {
    const row = rows.get(name);
    assert.ok(row, `docs/observability.md has no row for ${name}`);
    const type = exp.types.get(name);
    assert.equal(row.type, type, `${name}: the row says ${row.type}, the exporter renders ${type}`);
    const samples = exp.samples.filter((s) => s.name === name || (type === 'histogram' && s.name.startsWith(`${name}_`)));
    assert.ok(samples.length > 0, `${name}: a sample`);
    const labels = new Set(samples.flatMap((s) => Object.keys(s.labels)).filter((l) => l !== 'le'));
    assert.deepEqual([...row.labels.keys()].sort(), [...labels].sort(), `${name}: the row's labels`);
    for (const [label, values] of row.labels) {
      if (values.length === 0) continue;
      const rendered = new Set(samples.map((s) => s.labels[label]!));
      assert.deepEqual([...rendered].filter((v) => !values.includes(v)), [], `${name}: values of ${label} the row does not list`);
    }
  }
});
