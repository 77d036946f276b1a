import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { plainYamlValue } from '../../src/config/plain-yaml.js';
import { KeywayErrors } from '../../src/core/errors.js';

const REPO = join(import.meta.dirname, '..', '..');

// Plain scalars whose type the YAML 1.2 core schema decides, including the forms where js-yaml's own
// core schema disagrees with the `yaml` library (0b101, +0x1F, -0o7, +.5, -.5e3).
const SCALARS = [
  '0x1F', '0o17', '017', '08', '1_000', '+12', '-0', '.5', '1.', '1e3', '1E+3', '0.1e-2', '+.5', '-.5e3', '.inf', '-.Inf', '+.INF',
  '.NaN', '.nan', '~', 'null', 'Null', 'NULL', '', 'TRUE', 'True', 'true', 'false', 'FALSE', 'yes', 'no', 'on', 'off', 'y', 'n',
  '2001-12-14', '0b101', '+0x1F', '-0o7', '0xG', '12:30', '1:30:00', 'a b', '"1"', "'true'", '"\\u00e9"', '1e', '00', '0.',
];

test('the fast parse resolves every plain scalar as the yaml library does (YAML 1.2 core schema)', () => {
  for (const s of SCALARS) {
    const text = `v: ${s}\nw: [${s}]\n`;
    const fast = plainYamlValue(text);
    assert.ok(fast, `the fast path takes ${JSON.stringify(text)}`);
    assert.deepStrictEqual(fast.value, parse(text), `scalar ${JSON.stringify(s)}`);
  }
});

test('every YAML file of the repository that is one document reads the same by both parses', () => {
  const files = execFileSync('git', ['ls-files', '*.yaml', '*.yml'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean);
  let compared = 0;
  for (const f of files) {
    const text = readFileSync(join(REPO, f), 'utf8');
    const fast = plainYamlValue(text);
    if (fast === undefined) continue;
    assert.deepStrictEqual(fast.value, parse(text), f);
    compared++;
  }
  // The examples and golden inputs alone are more than this; a gate that declined them all would fail here.
  assert.ok(compared >= 15, `compared ${compared} files`);
});

test('anchors, aliases, tags, directives and merge keys are left to the full parse', () => {
  for (const text of ['a: &x 1\nb: *x\n', 'a: !!str 5\n', '%YAML 1.2\n---\na: 1\n', 'base: {a: 1}\nm:\n  <<: {a: 2}\n']) {
    assert.equal(plainYamlValue(text), undefined, text);
  }
});

test('comments holding what the fast path declines elsewhere keep a file on the fast path', () => {
  const text = [
    '# ? why 1024: see [hashing]: docs, weights > 0, |2 and >0, 90% & *all* !important, `code` @owner',
    'shards: 1024  # ? why',
    'replicas: 2\t# see [a]: b',
    'endpoints:  # {a: 1}: 2',
    '  # - x',
    '  - id: "gpu-1"   # "quoted # x" it\'s a#b',
    "    address: '10.0.0.1' # weight >0",
    '    port: 7001 #',
    '    weight: 80 # &anchor *alias !tag %YAML <<',
    '#---a',
    '',
  ].join('\n');
  const fast = plainYamlValue(text);
  assert.ok(fast, 'the fast path takes it');
  assert.deepStrictEqual(fast.value, parse(text));
  assert.equal(parseConfig(text, 'topo.yaml').topology.endpoints[0]?.port, 7001);
});

test('a `#` that starts no comment leaves what follows it to the checks', () => {
  // Inside quotes, inside a block scalar, and not after whitespace.
  for (const text of ['a: "b # &c"\n', "a: 'b # ? c'\n", 'a: |\n  b # *c\n', 'a: b#&c\n', 'a: "x"#c\n', 'a: [b]#c\n']) {
    assert.equal(plainYamlValue(text), undefined, text);
  }
});

test('duplicate keys, several documents and broken YAML fail the fast parse', () => {
  for (const text of ['a: 1\na: 2\n', 'a: 1\n---\nb: 2\n', 'a: [1, 2\n', 'a: 1\n  b: 2\n']) {
    assert.equal(plainYamlValue(text), undefined, text);
  }
});

test('a plain file with a mistake is still reported by file, line and field', () => {
  const text = 'shards: 16\nendpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 8080\n  - id: a\n    address: 10.0.0.2\n    port: seventy\n';
  assert.ok(plainYamlValue(text), 'the text itself takes the fast path');
  assert.throws(
    () => parseConfig(text, 'topo.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof KeywayErrors);
      const where = err.errors.map((e) => `${e.code} ${e.location?.field}:${e.location?.line}`);
      assert.deepEqual(where, ['DUPLICATE_ENDPOINT endpoints[1].id:6', 'CONFIG_INVALID endpoints[1].port:8']);
      return true;
    },
  );
});

test('the kubernetes section of a plain file still locates its fields', () => {
  const config = parseConfig('shards: 16\nkubernetes:\n  namespace: cache\n  service: gpu\n', 'topo.yaml');
  assert.ok(config.kubernetes);
  assert.deepEqual(config.kubernetes.locate(['service']), { file: 'topo.yaml', line: 4, column: 3, field: 'kubernetes.service' });
});
