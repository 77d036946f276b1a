/**
 * The topology file's checks cost in proportion to the file, not its square: a hostile 1 MiB file
 * holds about 100,000 keys or list items, and a quadratic step on them stalled keyway for minutes
 * (docs/security.md "Work budget"). Each test times the step on n and 8n items (scaling.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineCounter, parseDocument } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { createLocator } from '../../src/config/locator.js';
import { KeywayErrors } from '../../src/core/errors.js';
import { assertLinear } from './scaling.js';

function problemsOf(text: string): { code: string; line?: number; column?: number; message: string }[] {
  try {
    parseConfig(text, 't.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, String(err));
    return err.errors.map((e) => ({ code: e.code, line: e.location.line, column: e.location.column, message: e.message }));
  }
  return [];
}

/** A `kubernetes:` section of n keys (never validated by the file's parse), then a duplicated top-level key. */
function manyKeysThenDuplicate(n: number): string {
  const lines = ['shards: 8', 'kubernetes:', '  services: [cache]'];
  for (let i = 0; i < n; i++) lines.push(`  k${i}: 1`);
  lines.push('shards: 16', '');
  return lines.join('\n');
}

test('duplicate keys are found in time linear in the keys of a mapping (the yaml library compares each with every other)', () => {
  const dup = problemsOf(manyKeysThenDuplicate(10));
  assert.deepEqual(dup, [{ code: 'CONFIG_PARSE', line: 14, column: 1, message: 't.yaml:14:1: invalid YAML: Map keys must be unique (DUPLICATE_KEY)' }]);
  assertLinear('the parse of a file with a duplicate key', (n) => {
    const text = manyKeysThenDuplicate(n);
    return () => assert.equal(problemsOf(text).length, 1);
  }, 5000);
});

test('locating a problem by its key costs the same in a mapping of any size', () => {
  assertLinear('locating every key of a mapping', (n) => {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(`k${i}: 1`);
    const counter = new LineCounter();
    const doc = parseDocument(lines.join('\n'), { lineCounter: counter, uniqueKeys: false });
    return () => {
      const locate = createLocator(doc, counter, 't.yaml');
      for (let i = 0; i < n; i++) assert.equal(locate([`k${i}`]).line, i + 1);
    };
  }, 5000);
});

test('duplicate keys are reported where and as the yaml library reports them, and where two keys name one property', () => {
  // Each sample with the keys the library's own check passes though they name one property of the
  // plain value (the last value silently won): [line, column] of each.
  const samples: Array<[string, Array<[number, number]>]> = [
    ['a: 1\nb: 2\na: 3\n', []],
    ['a: 1\n"a": 2\n\'a\': 3\n', []],
    ['1: x\n"1": y\n1: z\n', [[2, 1]]],
    ['x:\n  y: 1\n  z: 2\n  y: 3\nz: {p: 1, q: 2, p: 3}\n', []],
    ['? a\n: 1\n? a\n: 2\n', []],
    ['.nan: 1\n.nan: 2\nnull: 3\n~: 4\n', [[2, 1]]],
    ['&k a: 1\n*k : 2\na: 3\n', [[2, 1]]],
    ['? [a]\n: 1\n? [a]\n: 2\n', []],
    ['list:\n  - {a: 1, a: 2}\n  - a: 1\n    b: 2\n    a: 3\n', []],
    ['a: 1\na: [\nb: 2\n', []],
    ['a: 1\n\ta: 2\na: 3\n', []],
    ['true: 1\nTrue: 2\ntrue: 3\n', []],
    ['~: 1\n"": 2\n', [[2, 1]]],
    ['1: 1\n1.0: 2\n0x1: 3\n', []],
    ['x: &k shards\nshards: 4\n*k : 8\n', [[3, 1]]],
    // An alias names the last anchor of its name before it: `b` here, not `a`.
    ['x: &k a\n&k b: 1\n*k : 2\na: 3\n', [[3, 1]]],
  ];
  for (const [text, extra] of samples) {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const library = doc.errors.map((e) => {
      const { line, col } = lines.linePos(e.pos[0]);
      return { line, column: col, message: `t.yaml:${line}:${col}: invalid YAML: ${e.message} (${e.code})` };
    });
    const more = extra.map(([line, column]) => ({ line, column, message: `t.yaml:${line}:${column}: invalid YAML: Map keys must be unique (DUPLICATE_KEY)` }));
    const expected = [...library, ...more].sort((a, b) => a.line - b.line || a.column - b.column);
    const parseProblems = problemsOf(text).filter((p) => p.code === 'CONFIG_PARSE').map(({ code: _code, ...rest }) => rest);
    assert.deepEqual(parseProblems, expected, JSON.stringify(text));
  }
});
