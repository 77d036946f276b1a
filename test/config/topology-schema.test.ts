/**
 * schemas/topology.schema.json, the JSON Schema editors validate topology files with
 * (docs/configuration.md "Editor support"), agrees with the validator, which stays the authority:
 * - every valid topology in the repository (testdata, examples, manifests, the docs' whole-file
 *   examples) passes both;
 * - the keys of every section are the validator's own (read from its "expected one of" message, so
 *   no copy of the lists lives here), and every section the schema closes the validator closes;
 * - each field's range, type, enum and null handling, probed from the schema at its bounds, gets
 *   the same verdict from both; the defaults are the validator's;
 * - files the validator refuses for a reason a schema can express are refused by the schema too.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseConfig, TOP_LEVEL_KEYS, validateConfig } from '../../src/config/index.js';
import { isConfigError } from '../../src/core/errors.js';
import { KUBERNETES_DEFAULTS, KUBERNETES_KEYS, parseKubernetesSourceConfig } from '../../src/sources/kubernetes/config.js';

type Json = Record<string, unknown>;
type Path = readonly (string | number)[];

const SCHEMA_FILE = 'schemas/topology.schema.json';
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Json;

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv2020) => void;
// Strict: a misspelt keyword in the schema is an error here, not a rule editors silently skip
// (strictRequired off: `anyOf: [{required: [...]}]` names properties defined beside it).
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
addFormats(ajv);
const validateSchema = ajv.compile(schema);

function schemaAccepts(value: unknown): boolean {
  return validateSchema(value) === true;
}

function schemaErrors(): string {
  return ajv.errorsText(validateSchema.errors);
}

/** The validator's problems with `raw`, as `keyway check` finds them (the kubernetes section included). */
function validatorProblems(raw: unknown): string[] {
  const result = validateConfig(raw, (path) => ({ field: path.join('.') }));
  // The work budget multiplies fields (shards x replicas x endpoints): beyond what a schema says.
  if (!result.ok) return result.errors.filter((e) => e.code !== 'BUDGET_EXCEEDED').map((e) => `${e.location.field}: ${e.message}`);
  const k = result.config.kubernetes;
  if (k === undefined) return [];
  try {
    parseKubernetesSourceConfig({ value: k.value, locate: (path) => ({ field: ['kubernetes', ...path].join('.') }) }, { env: {}, serviceAccountNamespace: () => undefined });
    return [];
  } catch (err) {
    if (!isConfigError(err)) throw err;
    return [err.message];
  }
}

/** The schema with its local `$ref`s followed (siblings of a `$ref` kept). */
function resolved(s: Json): Json {
  const ref = s.$ref;
  if (typeof ref !== 'string') return s;
  assert.ok(ref.startsWith('#/$defs/'), `only local $defs refs are expected, got ${ref}`);
  const target = (schema.$defs as Json)[ref.slice('#/$defs/'.length)] as Json;
  const { $ref: _ref, ...rest } = s;
  return { ...resolved(target), ...rest };
}

function types(s: Json): string[] {
  if (Array.isArray(s.type)) return s.type as string[];
  return typeof s.type === 'string' ? [s.type] : [];
}

/** A closed mapping of the schema (an object with `properties`), with its path in a topology. */
interface Section {
  readonly path: Path;
  readonly schema: Json;
}

/** Every mapping the schema describes, the top level first; list items get index 0. */
function sections(s: Json = schema, path: Path = []): Section[] {
  const r = resolved(s);
  const out: Section[] = [];
  if (types(r).includes('object')) out.push({ path, schema: r });
  for (const [key, sub] of Object.entries((r.properties ?? {}) as Record<string, Json>)) out.push(...sections(sub, [...path, key]));
  if (types(r).includes('array') && r.items !== undefined) out.push(...sections(r.items as Json, [...path, 0]));
  return out;
}

/** Every field of every section: a leaf is a property that is no mapping itself. */
function leaves(): { path: Path; schema: Json }[] {
  const out: { path: Path; schema: Json }[] = [];
  for (const sec of sections()) {
    for (const [key, sub] of Object.entries((sec.schema.properties ?? {}) as Record<string, Json>)) {
      const r = resolved(sub);
      if (!types(r).includes('object') && !types(r).includes('array')) out.push({ path: [...sec.path, key], schema: sub });
    }
  }
  return out;
}

/**
 * Valid topologies that between them hold every section, each away from the cross-field rules a
 * schema cannot state (xds.holdOffMs <= xds.maxDelayMs, kubernetes holdOffMs <= maxDelayMs, kubernetes startTimeoutMs <= startMaxMs).
 */
function baseTopology(): Json {
  return {
    shards: 8,
    replicas: 1,
    spread: 'none',
    service: 'keyway-cache',
    envoy: { listenerPort: 10000 },
    routing: { keyHeader: 'x-cache-key' },
    xds: { maxDelayMs: 60000 },
    handoff: { enabled: true },
    hotShards: { enabled: true, snapshot: { source: 'prometheus', url: 'http://prometheus:9090' } },
    endpoints: [{ id: 'gpu-a1', address: '10.0.0.11', port: 7000, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1 }],
  };
}

function kubernetesTopology(): Json {
  return { shards: 8, kubernetes: { namespace: 'cache', services: ['cache-node'], holdOffMs: 0, startTimeoutMs: 1000 } };
}

function baseFor(path: Path): Json {
  return path[0] === 'kubernetes' ? kubernetesTopology() : baseTopology();
}

/** `obj` with `value` at `path` (structuredClone: the bases are fresh each call anyway). */
function withValueAt(obj: Json, path: Path, value: unknown): Json {
  const out = structuredClone(obj);
  let cur: Record<string | number, unknown> = out;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
  return out;
}

function isWeight(s: Json): boolean {
  return s.$ref === '#/$defs/weight' || (Array.isArray(s.anyOf) && (s.anyOf as Json[]).some((x) => x.$ref === '#/$defs/weight'));
}

/** Values to try at a field: its bounds and just past them, each enum choice, wrong types, null. */
function probes(s: Json): unknown[] {
  const r = resolved(s);
  const wrongTypes: unknown[] = [null, [], {}];
  if (isWeight(s)) return [0, 1e-290, 1, 1e290, 5e-291, 2e290, -1, '1', true, ...wrongTypes];
  const t = types(r);
  if (Array.isArray(r.enum)) return [...(r.enum as unknown[]), 'not-a-choice', 1, true, ...wrongTypes];
  if (t.includes('boolean')) return [true, false, 'true', 0, ...wrongTypes];
  if (t.includes('integer') || t.includes('number')) {
    const min = (r.minimum ?? r.exclusiveMinimum) as number;
    const max = r.maximum as number;
    assert.equal(typeof min, 'number', 'a numeric field has a minimum');
    assert.equal(typeof max, 'number', 'a numeric field has a maximum');
    const values: unknown[] = [min, max, min - 1, max + 1, max * 2, (min + max) / 2, String(min), true, ...wrongTypes];
    if (t.includes('integer')) values.push(min + 0.5);
    if (r.exclusiveMinimum !== undefined) values.push(min + 1e-9);
    return values;
  }
  if (t.includes('string')) return [...((r.examples ?? []) as unknown[]), '', 'a b', 1, true, ...wrongTypes];
  throw new Error(`no probes for ${JSON.stringify(s)}`);
}

/** The validator's list of known keys at `path`, read from its message for an unknown key there. */
function validatorKeysAt(path: Path): string[] {
  const probe = 'zzzz-not-a-key';
  const raw = withValueAt(baseFor(path), [...path, probe], 1);
  const problems = validatorProblems(raw);
  const m = problems.map((p) => /(?:expected one of|section accepts) (.+)$/.exec(p)).find((x) => x !== null);
  assert.ok(m, `the validator does not refuse an unknown key at ${path.join('.') || 'the top level'}: ${problems.join('; ') || 'no problem'}`);
  return m[1]!.split(', ');
}

describe('the topology schema', () => {
  test('the schema is a draft 2020-12 schema Ajv compiles in strict mode', () => {
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(typeof validateSchema, 'function');
  });

  test('the schema uses only keywords draft-07 editors apply too, and annotations beside a $ref', () => {
    // yaml-language-server validates YAML with a draft-07 engine: a 2020-12-only keyword
    // (dependentSchemas, unevaluatedProperties, prefixItems, ...) would silently check nothing there,
    // and draft-07 ignores whatever sits beside a $ref.
    const annotations = ['title', 'description', 'default', 'examples', 'deprecated'];
    const allowed = new Set([
      ...annotations, '$schema', '$ref', '$defs', 'type', 'enum', 'const', 'properties', 'additionalProperties', 'required',
      'items', 'minItems', 'uniqueItems', 'minimum', 'maximum', 'exclusiveMinimum', 'pattern', 'format', 'anyOf', 'not', 'if', 'then', 'else',
    ]);
    const problems: string[] = [];
    const visit = (s: unknown, at: string): void => {
      if (typeof s === 'boolean') return;
      const o = s as Json;
      for (const key of Object.keys(o)) if (!allowed.has(key)) problems.push(`${at}: ${key}`);
      if ('$ref' in o) for (const key of Object.keys(o)) if (key !== '$ref' && !annotations.includes(key)) problems.push(`${at}: ${key} beside $ref`);
      for (const [k, sub] of Object.entries((o.properties ?? {}) as Json)) visit(sub, `${at}/properties/${k}`);
      for (const [k, sub] of Object.entries((o.$defs ?? {}) as Json)) visit(sub, `${at}/$defs/${k}`);
      for (const key of ['items', 'not', 'if', 'then', 'else', 'additionalProperties']) if (o[key] !== undefined) visit(o[key], `${at}/${key}`);
      ((o.anyOf ?? []) as unknown[]).forEach((sub, i) => visit(sub, `${at}/anyOf/${i}`));
    };
    visit(schema, '#');
    assert.deepEqual(problems, []);
  });

  test('the bundled examples name the schema on their first line, by a path that resolves', () => {
    for (const file of ['examples/topology.yaml', 'examples/topology-scale-out.yaml']) {
      const first = readFileSync(file, 'utf8').split('\n', 1)[0]!;
      const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
      assert.ok(m, `${file}: the first line is not the schema modeline: ${first}`);
      assert.equal(resolvePath(dirname(file), m[1]!), resolvePath(SCHEMA_FILE), `${file}: the modeline points elsewhere`);
    }
  });

  test('every valid topology in the repository passes the validator and the schema', () => {
    const files = repositoryTopologies();
    // The discovery below must keep finding these, or it would silently check nothing.
    for (const must of ['examples/topology.yaml', 'examples/topology-scale-out.yaml', 'manifests/base/topology.yaml', 'testdata/golden/small/input.yaml', 'docs/configuration.md', 'docs/kubernetes-discovery.md']) {
      assert.ok(files.some((f) => f.name.startsWith(must)), `no topology found in ${must}`);
    }
    assert.ok(files.some((f) => f.name.includes('ConfigMap')), 'no ConfigMap topology found in manifests');
    for (const { name, text } of files) {
      let raw: unknown;
      try {
        const cfg = parseConfig(text, name);
        if (cfg.kubernetes) parseKubernetesSourceConfig(cfg.kubernetes, { env: {}, serviceAccountNamespace: () => undefined });
        raw = parseYaml(text);
      } catch (err) {
        assert.fail(`${name}: the validator refuses it: ${(err as Error).message}`);
      }
      assert.ok(schemaAccepts(raw), `${name}: the schema refuses it: ${schemaErrors()}`);
    }
  });

  test('valid edge cases pass both', () => {
    const edges: [Path, unknown][] = [
      [['endpoints', 0, 'address'], '::ffff:10.0.0.1'],
      [['endpoints', 0, 'address'], '2001:DB8:0::1'],
      [['endpoints', 0, 'address'], 'fd00::11'],
      [['endpoints', 0, 'address'], '64:ff9b::10.0.0.1'],
      [['endpoints', 0, 'address'], 'ff::1'],
      [['endpoints', 0, 'id'], 'cache/node-0:7000'],
      [['endpoints', 0, 'locality'], { region: null, zone: 'ü', subzone: '' }],
      [['endpoints', 0, 'draining'], true],
      [['endpoints', 0, 'weight'], 2.5],
      [['routing', 'keyHeader'], "x-key!#$%&'*+.^_`|~"],
      [['hotShards', 'snapshot', 'url'], 'https://[::1]:9090/prom/a@b'],
      [['hotShards', 'snapshot'], { source: 'local' }],
      [['hotShards', 'snapshot'], {}],
      [['kubernetes', 'identity'], 'label:app.kubernetes.io/instance'],
      [['kubernetes', 'identity'], 'annotation:id'],
      [['kubernetes', 'subzoneLabel'], 'topology.kubernetes.io/zone'],
      [['kubernetes', 'services'], ['a', 'b-1']],
    ];
    for (const [path, value] of edges) {
      const raw = withValueAt(baseFor(path), path, value);
      assert.deepEqual(validatorProblems(raw), [], `${path.join('.')}: ${JSON.stringify(value)}`);
      assert.ok(schemaAccepts(raw), `${path.join('.')}: ${JSON.stringify(value)}: ${schemaErrors()}`);
    }
  });

  test("every section's keys are the validator's, and every section is closed in both", () => {
    const all = sections();
    assert.deepEqual(all.map((s) => s.path.join('.')), ['', 'envoy', 'routing', 'xds', 'handoff', 'hotShards', 'hotShards.snapshot', 'endpoints.0', 'endpoints.0.locality', 'kubernetes']);
    for (const sec of all) {
      const where = sec.path.join('.') || 'the top level';
      assert.equal(sec.schema.additionalProperties, false, `${where}: the validator refuses unknown keys, so the schema must too`);
      assert.deepEqual(Object.keys(sec.schema.properties as Json).sort(), validatorKeysAt(sec.path).sort(), `${where}: schema keys against the validator's`);
    }
    // The two lists the code exports, for good measure.
    assert.deepEqual(Object.keys(schema.properties as Json).sort(), [...TOP_LEVEL_KEYS].sort());
    assert.deepEqual(Object.keys((schema.properties as Record<string, Json>).kubernetes!.properties as Json).sort(), [...KUBERNETES_KEYS].sort());
  });

  test("each field's bounds, types, choices and null get the same verdict from both", () => {
    const checked = leaves();
    assert.ok(checked.length >= 50, `only ${checked.length} fields found`);
    const disagreements: string[] = [];
    for (const { path, schema: s } of checked) {
      for (const value of probes(s)) {
        const raw = withValueAt(baseFor(path), path, value);
        const problems = validatorProblems(raw);
        const accepted = schemaAccepts(raw);
        if (accepted !== (problems.length === 0)) {
          disagreements.push(`${path.join('.')} = ${JSON.stringify(value)}: validator ${problems.length === 0 ? 'accepts' : `refuses (${problems.join('; ')})`}, schema ${accepted ? 'accepts' : `refuses (${schemaErrors()})`}`);
        }
      }
    }
    for (const sec of sections().filter((x) => x.path.length > 0)) {
      for (const value of [null, [], 'text', 1]) {
        const raw = withValueAt(baseFor(sec.path), sec.path, value);
        const problems = validatorProblems(raw);
        if (schemaAccepts(raw) !== (problems.length === 0)) disagreements.push(`${sec.path.join('.')} = ${JSON.stringify(value)}: validator ${problems.length === 0 ? 'accepts' : 'refuses'}, schema does not`);
      }
    }
    assert.deepEqual(disagreements, []);
  });

  test("the schema's defaults are the validator's", () => {
    const parsed = validateConfig({ endpoints: [{ id: 'a', address: '10.0.0.1', port: 1 }], hotShards: { snapshot: { source: 'prometheus', url: 'http://p:9090' } } }, () => ({}));
    const plain = validateConfig({ endpoints: [] }, () => ({}));
    assert.ok(parsed.ok);
    const c = parsed.config;
    const e = c.endpoints[0]!;
    const k: Record<string, unknown> = { ...KUBERNETES_DEFAULTS };
    // Where each default lands in the validated config.
    const actual: Record<string, unknown> = {
      shards: c.policy.shardCount,
      replicas: c.policy.replicas,
      spread: c.policy.spread,
      service: c.xds.service,
      ...prefixed('envoy', c.xds.envoy),
      ...prefixed('routing', c.xds.routing),
      ...prefixed('xds', c.xdsTiming),
      ...prefixed('handoff', c.handoff),
      ...prefixed('hotShards', c.hotShards),
      'hotShards.snapshot.source': plain.ok ? plain.config.hotShards.snapshot.source : undefined,
      'hotShards.snapshot.lagMs': c.hotShards.snapshot.source === 'prometheus' ? c.hotShards.snapshot.lagMs : undefined,
      'endpoints.0.weight': e.weight,
      'endpoints.0.ready': e.ready,
      'endpoints.0.draining': e.draining ?? false,
      ...prefixed('endpoints.0.locality', e.locality),
      ...prefixed('kubernetes', k),
    };
    let count = 0;
    for (const { path, schema: s } of leaves()) {
      if (!('default' in s)) continue;
      const key = path.join('.');
      assert.ok(key in actual, `${key}: the schema has a default and the test no place for it`);
      assert.deepEqual(s.default, actual[key], `${key}: the schema's default against the validator's`);
      count++;
    }
    assert.ok(count >= 45, `only ${count} defaults checked`);
  });

  test('files the validator refuses for a reason a schema can state, the schema refuses', () => {
    const ep = '  - {id: gpu-a1, address: 10.0.0.11, port: 7000}\n';
    const invalid: string[] = [
      `replica: 2\nendpoints:\n${ep}`,
      `shards: "1024"\nendpoints:\n${ep}`,
      `shards: 0\nendpoints:\n${ep}`,
      `shards:\nendpoints:\n${ep}`,
      `spread: region\nendpoints:\n${ep}`,
      `service: -svc\nendpoints:\n${ep}`,
      `envoy: {routeShape: tables}\nendpoints:\n${ep}`,
      `envoy: {listenerPort: 70000}\nendpoints:\n${ep}`,
      `envoy: {perTryTimeoutMs: -1}\nendpoints:\n${ep}`,
      `envoy: {dynamicStats: yes}\nendpoints:\n${ep}`,
      `routing: {keyHeader: X-Cache-Key}\nendpoints:\n${ep}`,
      `routing: {keyHeader: x-cache-shard}\nendpoints:\n${ep}`,
      `routing: {keyHeader: transfer-encoding}\nendpoints:\n${ep}`,
      `handoff: {warmTimeoutMs: 600001}\nendpoints:\n${ep}`,
      `handoff: {drain: 1}\nendpoints:\n${ep}`,
      `hotShards: [a]\nendpoints:\n${ep}`,
      `hotShards: {spreadThreshold: 0}\nendpoints:\n${ep}`,
      `hotShards: {windowMs: 999}\nendpoints:\n${ep}`,
      `hotShards: {snapshot: {source: prometheus}}\nendpoints:\n${ep}`,
      `hotShards: {snapshot: {lagMs: 1000}}\nendpoints:\n${ep}`,
      `hotShards: {snapshot: {source: local, url: "http://p:9090"}}\nendpoints:\n${ep}`,
      `hotShards: {snapshot: {source: prometheus, url: "http://user:pw@p:9090"}}\nendpoints:\n${ep}`,
      `hotShards: {snapshot: {source: prometheus, url: "http://p:9090/?x=1"}}\nendpoints:\n${ep}`,
      `hotShards: {snapshot: {source: prometheus, url: "ftp://p"}}\nendpoints:\n${ep}`,
      'shards: 8\n',
      `kubernetes: {services: [a]}\nendpoints:\n${ep}`,
      'endpoints: {id: a}\n',
      'endpoints:\n  -\n',
      'endpoints:\n  - {address: 10.0.0.1, port: 1}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1}\n',
      'endpoints:\n  - {id: -a, address: 10.0.0.1, port: 1}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1, port: 0}\n',
      'endpoints:\n  - {id: a, address: cache-1.local, port: 1}\n',
      'endpoints:\n  - {id: a, address: "fe80::1%eth0", port: 1}\n',
      'endpoints:\n  - {id: a, address: 0.0.0.0, port: 1}\n',
      'endpoints:\n  - {id: a, address: 0.1.2.3, port: 1}\n',
      'endpoints:\n  - {id: a, address: 239.1.1.1, port: 1}\n',
      'endpoints:\n  - {id: a, address: 255.255.255.255, port: 1}\n',
      'endpoints:\n  - {id: a, address: "::ffff:0.0.0.0", port: 1}\n',
      'endpoints:\n  - {id: a, address: "::", port: 1}\n',
      'endpoints:\n  - {id: a, address: "0:0::0", port: 1}\n',
      'endpoints:\n  - {id: a, address: "ff02::1", port: 1}\n',
      'endpoints:\n  - {id: a, address: "FE80::1", port: 1}\n',
      'endpoints:\n  - {id: a, address: "febf::1", port: 1}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1, port: 1, weight: -1}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1, port: 1, weight: 1e291}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1, port: 1, weight: 1e-300}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1, port: 1, draining: true, ready: true}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1, port: 1, locality: {sub_zone: x}}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1, port: 1, locality: {zone: 1}}\n',
      'endpoints:\n  - {id: a, address: 10.0.0.1, port: 1, Weight: 1}\n',
      'kubernetes:\n',
      'kubernetes: {namespace: cache}\n',
      'kubernetes: {services: []}\n',
      'kubernetes: {services: [cache, cache]}\n',
      'kubernetes: {services: [Cache]}\n',
      'kubernetes: {services: [cache], identity: "label:"}\n',
      'kubernetes: {services: [cache], identity: node-name}\n',
      'kubernetes: {services: [cache], subzoneFrom: cluster}\n',
      'kubernetes: {services: [cache], holdOffMs: 300001}\n',
      'kubernetes: {services: [cache], defaultWeight: -1}\n',
      'kubernetes: {services: [cache], portname: cache}\n',
      '- shards: 8\n',
    ];
    for (const text of invalid) {
      const raw = parseYaml(text) as unknown;
      assert.notDeepEqual(validatorProblems(raw), [], `the validator accepts:\n${text}`);
      assert.throws(() => {
        const cfg = parseConfig(text, 't.yaml');
        if (cfg.kubernetes) parseKubernetesSourceConfig(cfg.kubernetes, { env: {}, serviceAccountNamespace: () => undefined });
      }, isConfigError, `keyway check accepts:\n${text}`);
      assert.equal(schemaAccepts(raw), false, `the schema accepts:\n${text}`);
    }
  });
});

function prefixed(prefix: string, obj: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [`${prefix}.${k}`, v]));
}

/**
 * The repository's topology files: under testdata, examples and manifests (files, and the
 * `topology.yaml` of ConfigMaps), and the docs' YAML blocks that are whole files. A topology is a
 * mapping with `endpoints` or `kubernetes` whose keys are all top-level keys of the file.
 */
function repositoryTopologies(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  for (const dir of ['testdata', 'examples', 'manifests']) {
    for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      if (!/\.ya?ml$/.test(rel)) continue;
      const file = join(dir, rel);
      const text = readFileSync(file, 'utf8');
      parseAllDocuments(text).forEach((doc, i) => {
        const v = doc.toJS() as unknown;
        if (isTopology(v)) out.push({ name: file, text });
        const data = (v as { kind?: unknown; data?: Record<string, unknown> } | null)?.data;
        if ((v as { kind?: unknown } | null)?.kind === 'ConfigMap' && typeof data?.['topology.yaml'] === 'string') {
          out.push({ name: `${file} (document ${i + 1}, ConfigMap topology.yaml)`, text: data['topology.yaml'] });
        }
      });
    }
  }
  for (const file of ['README.md', ...readdirSync('docs', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))]) {
    const md = readFileSync(file, 'utf8');
    for (const m of md.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)) {
      let v: unknown;
      try {
        v = parseYaml(m[1]!);
      } catch {
        continue; // a fragment, not a file
      }
      if (isTopology(v)) out.push({ name: `${file}:${md.slice(0, m.index).split('\n').length}`, text: m[1]! });
    }
  }
  return out;
}

function isTopology(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return (keys.includes('endpoints') || keys.includes('kubernetes')) && keys.every((k) => (TOP_LEVEL_KEYS as readonly string[]).includes(k));
}
