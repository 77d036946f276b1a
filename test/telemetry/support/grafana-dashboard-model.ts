/**
 * A structural check of Grafana's classic dashboard JSON model (schemaVersion 39 and later), written
 * from Grafana's dashboard kind (grafana/grafana, kinds/dashboard/dashboard_kind.cue) and the
 * "Dashboard JSON model" reference. Grafana publishes that schema as CUE and as TypeScript types
 * (@grafana/schema), not as an installable JSON Schema, and neither is a dependency here, so this
 * checks the same rules: required fields and their types, enumerations (graphTooltip, variable
 * types, hide, threshold modes, mapping types), the 24-column grid, unique panel ids and refIds,
 * rows holding their panels, and every template variable used being defined.
 *
 * Returns the problems found, each naming its JSON path; an empty list means the model is valid.
 */

type Json = Record<string, unknown>;

const TOP_LEVEL = new Set([
  '__inputs', '__elements', '__requires', 'annotations', 'description', 'editable', 'fiscalYearStartMonth', 'gnetId',
  'graphTooltip', 'id', 'links', 'liveNow', 'panels', 'refresh', 'schemaVersion', 'snapshot', 'style', 'tags', 'templating',
  'time', 'timepicker', 'timezone', 'title', 'uid', 'version', 'weekStart', 'revision', 'preload',
]);
const PANEL_KEYS = new Set([
  'type', 'id', 'pluginVersion', 'tags', 'targets', 'title', 'description', 'transparent', 'datasource', 'gridPos', 'links',
  'repeat', 'repeatDirection', 'repeatPanelId', 'maxDataPoints', 'maxPerRow', 'thresholds', 'timeRegions', 'transformations',
  'interval', 'timeFrom', 'timeShift', 'hideTimeOverride', 'libraryPanel', 'options', 'fieldConfig', 'cacheTimeout', 'queryCachingTTL',
]);
const ROW_KEYS = new Set(['type', 'collapsed', 'title', 'datasource', 'gridPos', 'id', 'panels', 'repeat']);
const PANEL_TYPES = new Set([
  'timeseries', 'stat', 'gauge', 'bargauge', 'table', 'piechart', 'heatmap', 'histogram', 'text', 'state-timeline',
  'status-history', 'barchart', 'logs', 'nodeGraph', 'traces', 'dashlist', 'alertlist', 'news', 'xychart', 'candlestick',
  'canvas', 'geomap', 'flamegraph', 'trend', 'datagrid',
]);
const VARIABLE_TYPES = new Set(['query', 'adhoc', 'constant', 'datasource', 'interval', 'textbox', 'custom', 'system', 'groupby']);
const COLOR_MODES = new Set([
  'thresholds', 'palette-classic', 'palette-classic-by-name', 'palette-saturated', 'continuous-GrYlRd', 'continuous-RdYlGr',
  'continuous-BlYlRd', 'continuous-YlRd', 'continuous-BlPu', 'continuous-YlBl', 'continuous-blues', 'continuous-reds',
  'continuous-greens', 'continuous-purples', 'fixed', 'shades',
]);
const MAPPING_TYPES = new Set(['value', 'range', 'regex', 'special']);
const GLOBAL_VARIABLES = new Set([
  '__interval', '__interval_ms', '__rate_interval', '__rate_interval_ms', '__range', '__range_s', '__range_ms', '__from', '__to',
  '__dashboard', '__org', '__user', '__name', '__timeFilter', '__auto', '__all_variables',
]);

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

export function dashboardProblems(d: unknown): string[] {
  const p: string[] = [];
  if (!isObj(d)) return ['$: a dashboard is a JSON object'];
  for (const k of Object.keys(d)) if (!TOP_LEVEL.has(k)) p.push(`$.${k}: not a field of the dashboard model`);
  if (typeof d.title !== 'string' || d.title.trim() === '') p.push('$.title: required, a non-empty string');
  if (typeof d.uid !== 'string' || !/^[a-zA-Z0-9_-]{1,40}$/.test(d.uid)) p.push('$.uid: required, 1-40 of [a-zA-Z0-9_-]');
  if (!isInt(d.schemaVersion) || d.schemaVersion < 39) p.push('$.schemaVersion: an integer >= 39');
  if (typeof d.editable !== 'boolean') p.push('$.editable: required boolean');
  if (![0, 1, 2].includes(d.graphTooltip as number)) p.push('$.graphTooltip: 0, 1 or 2');
  if (d.id !== undefined && d.id !== null && !isInt(d.id)) p.push('$.id: null or an integer');
  if (d.version !== undefined && (!isInt(d.version) || d.version < 0)) p.push('$.version: a non-negative integer');
  if (d.tags !== undefined && (!Array.isArray(d.tags) || !d.tags.every((t) => typeof t === 'string'))) p.push('$.tags: strings');
  if (d.timezone !== undefined && typeof d.timezone !== 'string') p.push('$.timezone: a string');
  if (d.refresh !== undefined && d.refresh !== false && (typeof d.refresh !== 'string' || !/^(|\d+[smhdw])$/.test(d.refresh))) {
    p.push('$.refresh: false or an interval like 10s');
  }
  if (d.fiscalYearStartMonth !== undefined && (!isInt(d.fiscalYearStartMonth) || d.fiscalYearStartMonth < 0 || d.fiscalYearStartMonth > 11)) {
    p.push('$.fiscalYearStartMonth: 0..11');
  }
  if (d.time !== undefined && (!isObj(d.time) || typeof d.time.from !== 'string' || typeof d.time.to !== 'string')) {
    p.push('$.time: {from, to} strings');
  }
  if (d.timepicker !== undefined && !isObj(d.timepicker)) p.push('$.timepicker: an object');
  if (d.links !== undefined) {
    if (!Array.isArray(d.links)) p.push('$.links: an array');
    else d.links.forEach((l, i) => checkLink(l, `$.links[${i}]`, p));
  }

  // Annotations.
  if (d.annotations !== undefined) {
    const list = isObj(d.annotations) ? d.annotations.list : undefined;
    if (!Array.isArray(list)) p.push('$.annotations.list: an array');
    else
      list.forEach((a, i) => {
        const at = `$.annotations.list[${i}]`;
        if (!isObj(a)) return void p.push(`${at}: an object`);
        if (typeof a.name !== 'string') p.push(`${at}.name: required string`);
        if (!isObj(a.datasource)) p.push(`${at}.datasource: required {type, uid}`);
        if (typeof a.enable !== 'boolean') p.push(`${at}.enable: required boolean`);
        if (typeof a.iconColor !== 'string') p.push(`${at}.iconColor: required string`);
      });
  }

  // Template variables.
  const defined = new Set<string>();
  const used = new Set<string>();
  const vars = isObj(d.templating) ? d.templating.list : undefined;
  if (d.templating !== undefined && !Array.isArray(vars)) p.push('$.templating.list: an array');
  for (const [i, v] of (Array.isArray(vars) ? vars : []).entries()) {
    const at = `$.templating.list[${i}]`;
    if (!isObj(v)) {
      p.push(`${at}: an object`);
      continue;
    }
    if (typeof v.name !== 'string' || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(v.name)) p.push(`${at}.name: a variable name`);
    else if (defined.has(v.name)) p.push(`${at}.name: ${v.name} defined twice`);
    else defined.add(v.name);
    if (!VARIABLE_TYPES.has(v.type as string)) p.push(`${at}.type: one of ${[...VARIABLE_TYPES].join(', ')}`);
    if (v.hide !== undefined && ![0, 1, 2].includes(v.hide as number)) p.push(`${at}.hide: 0, 1 or 2`);
    if (v.type === 'query') {
      if (!isObj(v.datasource)) p.push(`${at}.datasource: a query variable needs {type, uid}`);
      const q = isObj(v.query) ? v.query.query : v.query;
      if (typeof q !== 'string' || q === '') p.push(`${at}.query: a query variable needs its query`);
      if (v.refresh !== undefined && ![0, 1, 2].includes(v.refresh as number)) p.push(`${at}.refresh: 0, 1 or 2`);
      if (typeof q === 'string') for (const r of refs(q)) used.add(r);
    }
    if (v.type === 'datasource' && typeof v.query !== 'string') p.push(`${at}.query: the datasource plugin id`);
    for (const k of ['multi', 'includeAll', 'skipUrlSync']) if (v[k] !== undefined && typeof v[k] !== 'boolean') p.push(`${at}.${k}: boolean`);
  }

  // Panels: the grid, ids, and each panel's model.
  const ids = new Set<number>();
  const boxes: { at: string; x: number; y: number; w: number; h: number }[] = [];
  const panels = d.panels;
  if (panels !== undefined && !Array.isArray(panels)) p.push('$.panels: an array');
  for (const [i, panel] of (Array.isArray(panels) ? panels : []).entries()) {
    const at = `$.panels[${i}]`;
    checkPanel(panel, at, p, ids, boxes, used, true);
    if (isObj(panel) && panel.type === 'row') {
      const nested = Array.isArray(panel.panels) ? panel.panels : [];
      if (panel.collapsed === false && nested.length > 0) p.push(`${at}.panels: an expanded row keeps its panels at top level`);
      nested.forEach((n, j) => checkPanel(n, `${at}.panels[${j}]`, p, ids, boxes, used, false));
    }
  }
  for (let a = 0; a < boxes.length; a++) {
    for (let b = a + 1; b < boxes.length; b++) {
      const A = boxes[a]!;
      const B = boxes[b]!;
      if (A.x < B.x + B.w && B.x < A.x + A.w && A.y < B.y + B.h && B.y < A.y + A.h) p.push(`${A.at} and ${B.at}: panels overlap on the grid`);
    }
  }
  for (const name of used) if (!defined.has(name) && !GLOBAL_VARIABLES.has(name)) p.push(`$: variable $${name} is used but not defined`);
  return p;
}

function checkPanel(
  panel: unknown,
  at: string,
  p: string[],
  ids: Set<number>,
  boxes: { at: string; x: number; y: number; w: number; h: number }[],
  used: Set<string>,
  onGrid: boolean,
): void {
  if (!isObj(panel)) return void p.push(`${at}: an object`);
  const row = panel.type === 'row';
  for (const k of Object.keys(panel)) if (!(row ? ROW_KEYS : PANEL_KEYS).has(k)) p.push(`${at}.${k}: not a field of a ${row ? 'row' : 'panel'}`);
  if (!isInt(panel.id) || panel.id < 1) p.push(`${at}.id: a positive integer`);
  else if (ids.has(panel.id)) p.push(`${at}.id: ${panel.id} is not unique`);
  else ids.add(panel.id);
  const g = panel.gridPos;
  if (!isObj(g)) p.push(`${at}.gridPos: required {h, w, x, y}`);
  else {
    const { h, w, x, y } = g as { h: unknown; w: unknown; x: unknown; y: unknown };
    if (!isInt(h) || h < 1) p.push(`${at}.gridPos.h: an integer > 0`);
    if (!isInt(w) || w < 1 || w > 24) p.push(`${at}.gridPos.w: 1..24`);
    if (!isInt(x) || x < 0 || x > 23) p.push(`${at}.gridPos.x: 0..23`);
    if (!isInt(y) || y < 0) p.push(`${at}.gridPos.y: an integer >= 0`);
    if (isInt(x) && isInt(w) && x + w > 24) p.push(`${at}.gridPos: x + w exceeds the 24 columns`);
    if (onGrid && isInt(h) && isInt(w) && isInt(x) && isInt(y)) boxes.push({ at, x, y, w, h });
  }
  if (typeof panel.title !== 'string') p.push(`${at}.title: a string`);
  else for (const v of refs(panel.title)) used.add(v);
  if (row) {
    if (typeof panel.collapsed !== 'boolean') p.push(`${at}.collapsed: required boolean`);
    if (!Array.isArray(panel.panels)) p.push(`${at}.panels: required array`);
    return;
  }
  if (typeof panel.type !== 'string' || !PANEL_TYPES.has(panel.type)) p.push(`${at}.type: a panel plugin id (${String(panel.type)})`);
  if (!isObj(panel.options)) p.push(`${at}.options: required object`);
  if (!Array.isArray(panel.transformations)) p.push(`${at}.transformations: required array`);
  else
    panel.transformations.forEach((t, i) => {
      if (!isObj(t) || typeof t.id !== 'string' || t.id === '') p.push(`${at}.transformations[${i}]: {id, options}`);
    });
  checkFieldConfig(panel.fieldConfig, `${at}.fieldConfig`, p);
  if (panel.datasource !== undefined && panel.datasource !== null && !isObj(panel.datasource)) p.push(`${at}.datasource: {type, uid}`);
  if (panel.repeatDirection !== undefined && !['h', 'v'].includes(panel.repeatDirection as string)) p.push(`${at}.repeatDirection: h or v`);
  if (panel.type === 'text') return;
  if (!Array.isArray(panel.targets) || panel.targets.length === 0) return void p.push(`${at}.targets: a data panel needs at least one query`);
  const refIds = new Set<string>();
  panel.targets.forEach((t, i) => {
    const tat = `${at}.targets[${i}]`;
    if (!isObj(t)) return void p.push(`${tat}: an object`);
    if (typeof t.refId !== 'string' || t.refId === '') p.push(`${tat}.refId: required`);
    else if (refIds.has(t.refId)) p.push(`${tat}.refId: ${t.refId} repeats in the panel`);
    else refIds.add(t.refId);
    if (t.datasource !== undefined && !isObj(t.datasource)) p.push(`${tat}.datasource: {type, uid}`);
    const ds = (isObj(t.datasource) ? t.datasource : panel.datasource) as Json | undefined;
    if (ds?.type === 'prometheus' && (typeof t.expr !== 'string' || t.expr.trim() === '')) p.push(`${tat}.expr: a Prometheus query needs expr`);
    for (const k of ['instant', 'range', 'hide']) if (t[k] !== undefined && typeof t[k] !== 'boolean') p.push(`${tat}.${k}: boolean`);
    if (t.format !== undefined && !['time_series', 'table', 'heatmap'].includes(t.format as string)) p.push(`${tat}.format: time_series, table or heatmap`);
    for (const s of [t.expr, t.legendFormat, ds?.uid]) if (typeof s === 'string') for (const v of refs(s)) used.add(v);
  });
  if (isObj(panel.datasource) && typeof panel.datasource.uid === 'string') for (const v of refs(panel.datasource.uid)) used.add(v);
}

function checkFieldConfig(fc: unknown, at: string, p: string[]): void {
  if (!isObj(fc)) return void p.push(`${at}: required {defaults, overrides}`);
  if (!isObj(fc.defaults)) p.push(`${at}.defaults: required object`);
  if (!Array.isArray(fc.overrides)) p.push(`${at}.overrides: required array`);
  else
    fc.overrides.forEach((o, i) => {
      if (!isObj(o) || !isObj(o.matcher) || typeof o.matcher.id !== 'string' || !Array.isArray(o.properties)) {
        p.push(`${at}.overrides[${i}]: {matcher: {id, options}, properties: [...]}`);
      }
    });
  const d = isObj(fc.defaults) ? fc.defaults : {};
  if (d.unit !== undefined && typeof d.unit !== 'string') p.push(`${at}.defaults.unit: a string`);
  for (const k of ['min', 'max', 'decimals']) if (d[k] !== undefined && d[k] !== null && typeof d[k] !== 'number') p.push(`${at}.defaults.${k}: a number`);
  if (d.color !== undefined) {
    if (!isObj(d.color) || typeof d.color.mode !== 'string' || !COLOR_MODES.has(d.color.mode)) p.push(`${at}.defaults.color.mode: a field color mode`);
  }
  if (d.thresholds !== undefined) {
    const t = d.thresholds;
    if (!isObj(t) || !['absolute', 'percentage'].includes(t.mode as string)) p.push(`${at}.defaults.thresholds.mode: absolute or percentage`);
    const steps = isObj(t) ? t.steps : undefined;
    if (!Array.isArray(steps) || steps.length === 0) p.push(`${at}.defaults.thresholds.steps: a non-empty array`);
    else {
      steps.forEach((s, i) => {
        if (!isObj(s) || typeof s.color !== 'string') p.push(`${at}.defaults.thresholds.steps[${i}].color: required`);
        // The base step's value is -Infinity, which JSON writes as null.
        else if (i === 0 ? s.value !== null : typeof s.value !== 'number') p.push(`${at}.defaults.thresholds.steps[${i}].value: ${i === 0 ? 'null (the base)' : 'a number'}`);
      });
      const values = steps.slice(1).map((s) => (isObj(s) ? (s.value as number) : NaN));
      if (values.some((v, i) => i > 0 && v < values[i - 1]!)) p.push(`${at}.defaults.thresholds.steps: sorted by value`);
    }
  }
  if (d.mappings !== undefined) {
    if (!Array.isArray(d.mappings)) p.push(`${at}.defaults.mappings: an array`);
    else d.mappings.forEach((m, i) => {
      if (!isObj(m) || !MAPPING_TYPES.has(m.type as string) || !isObj(m.options)) p.push(`${at}.defaults.mappings[${i}]: {type, options}`);
    });
  }
  if (d.custom !== undefined && !isObj(d.custom)) p.push(`${at}.defaults.custom: an object`);
}

function checkLink(l: unknown, at: string, p: string[]): void {
  if (!isObj(l)) return void p.push(`${at}: an object`);
  if (typeof l.title !== 'string') p.push(`${at}.title: required string`);
  if (!['link', 'dashboards'].includes(l.type as string)) p.push(`${at}.type: link or dashboards`);
  if (l.type === 'link' && typeof l.url !== 'string') p.push(`${at}.url: required for a link`);
  if (l.tags !== undefined && !Array.isArray(l.tags)) p.push(`${at}.tags: an array`);
}

function refs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]/g)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}
