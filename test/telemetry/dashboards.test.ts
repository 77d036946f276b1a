import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CACHE_NODE_METRICS, KEYWAY_METRICS, PROCESS_METRICS } from '../../src/telemetry/index.js';
import {
  DASHBOARD_FILES,
  GRAFANA_DIR,
  labelValuesQueries,
  loadDashboard,
  metricNamesIn,
  panelsOf,
  queriesOf,
  substitute,
  variablesOf,
  type Json,
} from './support/dashboards.js';
import { dashboardProblems } from './support/grafana-dashboard-model.js';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

test('both dashboards are valid Grafana dashboard models (schemaVersion >= 39)', () => {
  for (const file of DASHBOARD_FILES) {
    assert.deepEqual(dashboardProblems(loadDashboard(file)), [], file);
  }
  assert.equal(loadDashboard('keyway-locality.json').title, 'keyway / Locality');
  assert.equal(loadDashboard('keyway-control-plane.json').title, 'keyway / Control plane');
});

test('the model check is not vacuous: each kind of defect is reported with its path', () => {
  const base = loadDashboard('keyway-control-plane.json');
  const broken = (edit: (d: Json & { panels: Json[] }) => void): string[] => {
    const d = structuredClone(base) as Json & { panels: Json[] };
    edit(d);
    return dashboardProblems(d);
  };
  const data = (d: { panels: Json[] }) => d.panels.find((p) => p.type !== 'row')! as Json & { gridPos: Json; targets: Json[]; fieldConfig: Json };
  assert.match(broken((d) => delete d.title).join('\n'), /\$\.title/);
  assert.match(broken((d) => (d.schemaVersion = 27)).join('\n'), /schemaVersion/);
  assert.match(broken((d) => (d.graphTooltip = 3)).join('\n'), /graphTooltip/);
  assert.match(broken((d) => (d.pannels = [])).join('\n'), /\$\.pannels: not a field/);
  assert.match(broken((d) => (d.panels[2]!.id = d.panels[1]!.id)).join('\n'), /is not unique/);
  assert.match(broken((d) => (data(d).gridPos.x = 20)).join('\n'), /exceeds the 24 columns|overlap/);
  assert.match(broken((d) => (d.panels[2]!.gridPos = { ...(d.panels[1]!.gridPos as Json) })).join('\n'), /overlap/);
  assert.match(broken((d) => (data(d).targets[0]!.expr = 'sum(x{a="$nope"})')).join('\n'), /\$nope is used but not defined/);
  assert.match(broken((d) => data(d).targets.push({ ...data(d).targets[0]! })).join('\n'), /refId: A repeats/);
  assert.match(broken((d) => ((data(d).fieldConfig.defaults as Json).thresholds = { mode: 'relative', steps: [] })).join('\n'), /thresholds/);
  assert.match(broken((d) => delete (data(d) as Json).fieldConfig).join('\n'), /fieldConfig: required/);
  assert.match(broken((d) => (data(d).type = 'graph-ish')).join('\n'), /panel plugin id/);
  assert.match(broken((d) => ((d.templating as { list: Json[] }).list[0]!.type = 'dropdown')).join('\n'), /templating\.list\[0\]\.type/);
});

test('every panel queries Prometheus through the DS_PROMETHEUS data-source variable', () => {
  for (const file of DASHBOARD_FILES) {
    const d = loadDashboard(file);
    const ds = variablesOf(d).find((v) => v.name === 'DS_PROMETHEUS');
    assert.deepEqual([ds?.type, ds?.query], ['datasource', 'prometheus'], `${file}: the data-source variable`);
    for (const p of panelsOf(d).filter((x) => x.type !== 'row')) {
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${DS_PROMETHEUS}' }, `${file}: ${String(p.title)}`);
      for (const t of p.targets as Json[]) assert.deepEqual(t.datasource, p.datasource);
    }
  }
});

test('every metric a dashboard reads is one keyway or the cache node exposes', () => {
  const histograms = [KEYWAY_METRICS.pushDuration, KEYWAY_METRICS.convergence, KEYWAY_METRICS.shardMapComputeDuration, KEYWAY_METRICS.movedPerChange];
  const known = new Set<string>([
    ...Object.values(KEYWAY_METRICS),
    ...Object.values(CACHE_NODE_METRICS),
    ...Object.values(PROCESS_METRICS),
    'target_info',
    ...histograms.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
  ]);
  const read = new Set<string>();
  for (const file of DASHBOARD_FILES) {
    const d = loadDashboard(file);
    const exprs = [...queriesOf(d).map((q) => q.expr), ...labelValuesQueries(d).map((q) => q.selector)];
    for (const expr of exprs) {
      for (const name of metricNamesIn(expr)) {
        assert.ok(known.has(name), `${file}: ${name} is not exposed (in ${expr})`);
        read.add(name);
      }
    }
  }
  // The dashboards cover the list in docs/observability.md "Dashboards": each of these is on some panel.
  for (const name of [
    KEYWAY_METRICS.proxiesConnected,
    KEYWAY_METRICS.proxySyncStatus,
    `${KEYWAY_METRICS.pushDuration}_bucket`,
    KEYWAY_METRICS.pushes,
    `${KEYWAY_METRICS.convergence}_bucket`,
    KEYWAY_METRICS.nacks,
    KEYWAY_METRICS.shardsOwned,
    KEYWAY_METRICS.shardsPrimary,
    KEYWAY_METRICS.endpointWeight,
    KEYWAY_METRICS.shardsMoved,
    KEYWAY_METRICS.shardMapVersionAge,
    `${KEYWAY_METRICS.shardMapComputeDuration}_bucket`,
    KEYWAY_METRICS.sourceErrors,
    KEYWAY_METRICS.sourceStaleness,
    CACHE_NODE_METRICS.lookups,
    CACHE_NODE_METRICS.requests,
    PROCESS_METRICS.cpuTime,
    PROCESS_METRICS.memory,
    PROCESS_METRICS.eventLoopDelayP99,
    PROCESS_METRICS.fileDescriptors,
  ]) {
    assert.ok(read.has(name), `no panel reads ${name}`);
  }
});

test('the panels docs/observability.md lists are there, by title', () => {
  const titles = (file: string) => panelsOf(loadDashboard(file)).map((p) => String(p.title));
  const locality = titles('keyway-locality.json');
  for (const re of [/by fabric against weight/, /by zone against weight/, /Shards moved$/, /L1 hit rate by fabric/, /L1 hit rate by shard/, /served by a non-owner/]) {
    assert.ok(locality.some((t) => re.test(t)), `Locality: a panel matching ${re}`);
  }
  const control = titles('keyway-control-plane.json');
  for (const re of [/Connected proxies/, /Sync status/, /Push latency/, /Convergence p99/, /NACKs/, /^CPU$/, /^Memory$/, /Event-loop delay/, /Open file descriptors/]) {
    assert.ok(control.some((t) => re.test(t)), `Control plane: a panel matching ${re}`);
  }
});

test('every PromQL expression parses (promtool check rules)', { skip: PROMTOOL ? false : 'promtool is not installed' }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-promql-'));
  try {
    const rules: { record: string; expr: string }[] = [];
    for (const file of DASHBOARD_FILES) {
      const d = loadDashboard(file);
      for (const q of queriesOf(d)) rules.push({ record: `keyway_dashboard:check:${rules.length}`, expr: substitute(q.expr) });
      for (const v of labelValuesQueries(d)) rules.push({ record: `keyway_dashboard:check:${rules.length}`, expr: substitute(v.selector) });
    }
    const file = path.join(dir, 'rules.yml');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboards', rules }] }));
    const out = execFileSync(PROMTOOL!, ['check', 'rules', file], { encoding: 'utf8' });
    assert.match(out, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the provisioning examples parse and point Grafana at the dashboards and a Prometheus data source', () => {
  const dashboards = parseYaml(readFileSync(path.join(GRAFANA_DIR, 'provisioning/dashboards.yaml'), 'utf8')) as {
    apiVersion: number;
    providers: { type: string; options: { path: string } }[];
  };
  assert.equal(dashboards.apiVersion, 1);
  assert.equal(dashboards.providers[0]!.type, 'file');
  assert.match(dashboards.providers[0]!.options.path, /^\//);
  const datasources = parseYaml(readFileSync(path.join(GRAFANA_DIR, 'provisioning/datasources.yaml'), 'utf8')) as {
    datasources: { type: string; url: string }[];
  };
  assert.equal(datasources.datasources[0]!.type, 'prometheus');
  assert.match(datasources.datasources[0]!.url, /^https?:\/\//);
});
