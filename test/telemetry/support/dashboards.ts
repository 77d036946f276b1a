/**
 * keyway's Grafana dashboards (manifests/grafana) as the tests see them: every panel, every
 * PromQL expression, every template variable, and the substitution Grafana performs before it
 * sends a query to Prometheus (template variables and `$__rate_interval`-style globals).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const GRAFANA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'manifests', 'grafana');
export const DASHBOARD_FILES = ['keyway-locality.json', 'keyway-control-plane.json'] as const;

export type Json = Record<string, unknown>;

export interface DashboardQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
  readonly instant: boolean;
}

export function loadDashboard(file: string): Json {
  return JSON.parse(readFileSync(path.join(GRAFANA_DIR, file), 'utf8')) as Json;
}

/** Every panel, rows' nested panels included, in document order. */
export function panelsOf(dashboard: Json): Json[] {
  const out: Json[] = [];
  for (const p of (dashboard.panels as Json[] | undefined) ?? []) {
    out.push(p);
    if (p.type === 'row') out.push(...((p.panels as Json[] | undefined) ?? []));
  }
  return out;
}

/** Every Prometheus target of every panel. */
export function queriesOf(dashboard: Json): DashboardQuery[] {
  return panelsOf(dashboard).flatMap((p) =>
    ((p.targets as Json[] | undefined) ?? []).map((t) => ({
      dashboard: String(dashboard.title),
      panel: String(p.title),
      refId: String(t.refId),
      expr: String(t.expr),
      instant: t.instant === true,
    })),
  );
}

export function variablesOf(dashboard: Json): Json[] {
  return (((dashboard.templating as Json | undefined)?.list as Json[] | undefined) ?? []);
}

/** The PromQL inside `label_values(<selector>, <label>)` variable queries: `{selector, label}`. */
export function labelValuesQueries(dashboard: Json): { name: string; selector: string; label: string }[] {
  return variablesOf(dashboard)
    .filter((v) => v.type === 'query')
    .map((v) => {
      const q = typeof v.query === 'string' ? v.query : String((v.query as Json).query);
      const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q.trim());
      if (!m) throw new Error(`variable ${String(v.name)}: only label_values(selector, label) queries are expected, got ${q}`);
      return { name: String(v.name), selector: m[1]!, label: m[2]! };
    });
}

/** Grafana's global variables that may appear in expressions, with the value used when evaluating them. */
export const GRAFANA_GLOBALS: Readonly<Record<string, string>> = {
  __rate_interval: '15s',
  __interval: '5s',
  __range: '5m',
  __range_s: '300',
  __range_ms: '300000',
};

/** Names of `$var` / `${var}` / `[[var]]` references in a text. */
export function variableRefs(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]/g)) {
    names.add((m[1] ?? m[2] ?? m[3])!);
  }
  return [...names];
}

/**
 * What Grafana sends to Prometheus: globals replaced by `globals`, every other variable by
 * `values[name]` (default `.*`, the "All" value of keyway's regex-matched variables).
 */
export function substitute(expr: string, values: Readonly<Record<string, string>> = {}, globals = GRAFANA_GLOBALS): string {
  return expr.replace(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]/g, (_all, a, b, c) => {
    const name = (a ?? b ?? c) as string;
    return globals[name] ?? values[name] ?? '.*';
  });
}

/** Metric names an expression reads: keyway's own, the process and runtime ones, and `target_info`. */
export function metricNamesIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(?:keyway|process|nodejs|v8js)_[a-z0-9_]+\b|\btarget_info\b/g)].map((m) => m[0]))];
}
