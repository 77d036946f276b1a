/**
 * The alerting rules keyway ships (manifests/prometheus/keyway-alerts.yaml, docs/observability.md
 * "Alerts"): valid for Prometheus, each alert firing on series that should fire it and silent on a
 * healthy fleet of two replicas (promtool's rule unit tests, manifests/prometheus/tests/), and
 * reading only metrics keyway or its example cache node exports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { CACHE_NODE_METRICS, KEYWAY_METRICS } from '../../src/telemetry/metric-names.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RULES = path.join(ROOT, 'manifests/prometheus/keyway-alerts.yaml');
const UNIT_TESTS = path.join(ROOT, 'manifests/prometheus/tests/keyway-alerts.test.yaml');
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
const skip = PROMTOOL ? false : 'promtool is not installed';

interface Rule {
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
interface RulesFile {
  readonly groups: { readonly name: string; readonly rules: Rule[] }[];
}

function rulesFile(): RulesFile {
  return parseYaml(readFileSync(RULES, 'utf8')) as RulesFile;
}

function alerts(): Rule[] {
  return rulesFile().groups.flatMap((g) => g.rules);
}

/** What keyway serve and the example cache node export, read from the names module itself. */
const EXPORTED = new Set<string>([...Object.values(KEYWAY_METRICS), ...Object.values(CACHE_NODE_METRICS)]);

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset']);

/**
 * The metric names a PromQL expression selects: identifiers that are neither a function call, a
 * keyword, a label in a matcher or grouping, nor part of a string, duration or number.
 */
export function metricNamesOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, '');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || PROMQL_WORDS.has(name!)) continue;
    names.add(name!);
  }
  return [...names];
}

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(PROMTOOL!, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('promtool check rules accepts the rules file', { skip }, () => {
  const r = promtool('check', 'rules', RULES);
  assert.equal(r.status, 0, r.out);
});

test('promtool unit tests: each alert fires on its made-up series and none on a healthy fleet of two replicas', { skip }, () => {
  const r = promtool('test', 'rules', UNIT_TESTS);
  assert.equal(r.status, 0, r.out);
});

test('the rules file is a plain groups list, usable as a PrometheusRule spec', () => {
  const file = rulesFile();
  assert.deepEqual(Object.keys(file), ['groups']);
  assert.ok(alerts().length > 0);
});

test('every alert has a for, a severity, a summary and a description linking the docs', () => {
  for (const rule of alerts()) {
    assert.ok(rule.alert, `a recording rule slipped in: ${rule.expr}`);
    assert.match(rule.for ?? '', /^\d+[smh]$/, `${rule.alert}: for`);
    assert.ok(['warning', 'critical'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity`);
    assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
    assert.match(rule.annotations?.description ?? '', /docs\/observability\.md#alerts/, `${rule.alert}: description`);
  }
});

test('every metric the rules read is one keyway exports (src/telemetry/metric-names.ts)', () => {
  const used = new Set(alerts().flatMap((r) => metricNamesOf(r.expr)));
  assert.ok(used.size >= 10, `too few names found: ${[...used].join(', ')}`);
  const unknown = [...used].filter((n) => !EXPORTED.has(n));
  assert.deepEqual(unknown, [], 'names no keyway process exports');
});

test('the name check catches a misspelt metric and ignores labels, functions and keywords', () => {
  assert.deepEqual(
    metricNamesOf('sum by (type) (rate(keyway_xds_nack_total{status="NACKED"}[5m])) > 0 or on (job) keyway_x - time() < 14 * 86400'),
    ['keyway_xds_nack_total', 'keyway_x'],
  );
});

test('the docs list every alert', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/observability.md'), 'utf8');
  const section = doc.slice(doc.indexOf('\n## Alerts'));
  assert.ok(section.length > 20, 'docs/observability.md has no "Alerts" section');
  for (const rule of alerts()) assert.ok(section.includes(`\`${rule.alert}\``), `${rule.alert} is not in the docs`);
});

test('the unit tests fire every alert and check every alert on the healthy fleet', () => {
  const unit = parseYaml(readFileSync(UNIT_TESTS, 'utf8')) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const names = alerts().map((r) => r.alert!);
  const fired = new Set(unit.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  const healthy = new Set(unit.tests[0]!.alert_rule_test.filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname));
  assert.deepEqual(names.filter((n) => !fired.has(n)), [], 'alerts never fired');
  assert.deepEqual(names.filter((n) => !healthy.has(n)), [], 'alerts not checked on the healthy fleet');
});
