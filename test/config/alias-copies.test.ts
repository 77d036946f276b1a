/**
 * What aliases may make of a topology file beyond the yaml library's own limit (at most
 * MAX_YAML_ALIAS_COUNT copies of one anchor):
 * - an alias inside the node its anchor names (`&a [*a]`) is a located CONFIG_PARSE error. The
 *   plain value then contains itself, and copying the `kubernetes` section (its keys sorted)
 *   overflowed the stack: `keyway check` said "internal error: Maximum call stack size exceeded";
 * - counted as copies, the file holds at most MAX_YAML_VALUES values. The plain value shares each
 *   anchor's object, but the `kubernetes` section is copied and compared as JSON whole: a 520 KB
 *   file of 40,000 small mappings aliased 99 times took 7 s and 440 MB to read (a 32 MB JSON text).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_YAML_VALUES, parseConfig } from '../../src/config/load.js';
import { KeywayErrors } from '../../src/core/errors.js';

function refusal(text: string): KeywayErrors {
  try {
    parseConfig(text, 'a.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    return err;
  }
  assert.fail('the file was accepted');
}

test('an alias inside the node its anchor names is CONFIG_PARSE at the alias, wherever it is', () => {
  const cases: [string, number, number][] = [
    ['kubernetes:\n  services: [cache]\n  x: &a [*a]\n', 3, 10],
    ['kubernetes: &a\n  services: [cache]\n  x: *a\n', 3, 6],
    ['kubernetes:\n  services: [cache]\n  x: &a {y: [1, {z: *a}]}\n', 3, 21],
    ['endpoints: &a [*a]\n', 1, 16],
  ];
  for (const [text, line, column] of cases) {
    const err = refusal(text);
    assert.equal(err.errors.length, 1, err.message);
    assert.equal(err.code, 'CONFIG_PARSE');
    assert.equal(err.message, `a.yaml:${line}:${column}: invalid YAML: alias *a is inside the node &a names, which would contain itself without end; no topology field takes that`);
  }
  // An alias of the latest node of its anchor's name that has ended is fine.
  const ok = parseConfig('kubernetes:\n  services: &a [cache]\n  p: &a [other]\n  x: [*a]\n', 'a.yaml');
  assert.deepEqual(ok.kubernetes?.value, { p: ['other'], services: ['cache'], x: [['other']] });
});

/** A kubernetes section whose `x` holds 99 copies of a list of `k` scalars: 9 + 100 (k + 1) values in all. */
function copies(k: number): string {
  return `kubernetes:\n  services: [cache]\n  defs: &b [${Array.from({ length: k }, () => 'v').join(', ')}]\n  x: [${Array.from({ length: 99 }, () => '*b').join(', ')}]\n`;
}

test('aliases that copy the file past MAX_YAML_VALUES values are CONFIG_PARSE at the alias past it', () => {
  const k = Math.floor((MAX_YAML_VALUES - 9) / 100) - 1;
  assert.equal(9 + 100 * (k + 1) <= MAX_YAML_VALUES && 9 + 100 * (k + 2) > MAX_YAML_VALUES, true);
  const within = parseConfig(copies(k), 'a.yaml');
  assert.equal((within.kubernetes?.value as { x: unknown[][] }).x.length, 99);

  const err = refusal(copies(k + 1));
  assert.equal(err.errors.length, 1, err.message);
  assert.equal(err.code, 'CONFIG_PARSE');
  // The last alias of line 4 is the one that passes the limit.
  const column = copies(k + 1).split('\n')[3]!.lastIndexOf('*b') + 1;
  assert.equal(err.message, `a.yaml:4:${column}: invalid YAML: the file's aliases copy it to more than ${MAX_YAML_VALUES} values (each alias counts as a copy of what its anchor names); write the values out or share smaller blocks`);
});

test('a file of many small mappings aliased 99 times is refused quickly, not copied', () => {
  const big = Array.from({ length: 4000 }, () => '    - {a: 1}').join('\n');
  const text = `kubernetes:\n  services: [cache]\n  defs: &b\n${big}\n  x: [${Array.from({ length: 99 }, () => '*b').join(', ')}]\n`;
  const started = performance.now();
  const err = refusal(text);
  assert.match(err.message, /aliases copy it to more than/);
  assert.ok(performance.now() - started < 5_000, `${performance.now() - started} ms`);
});
