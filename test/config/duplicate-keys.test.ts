/**
 * Two keys that name one property of the plain value are a duplicate key, whatever their YAML
 * types: `1` and `"1"`, `~` and `""`, or an alias of an earlier key. The yaml library's check
 * compares key values with ===, so these passed and the last value silently won (the first file
 * below was served with `shards: 8`, its `shards: 4` dropped without a word).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { KeywayErrors } from '../../src/core/errors.js';

function problemsOf(text: string): string[] {
  try {
    parseConfig(text, 'd.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, String(err));
    return err.errors.map((e) => e.message);
  }
  assert.fail(`accepted: ${JSON.stringify(text)}`);
}

const DUPLICATE = (line: number, column: number): string => `d.yaml:${line}:${column}: invalid YAML: Map keys must be unique (DUPLICATE_KEY)`;

test('an alias of an earlier key is a duplicate key, not a silent override', () => {
  assert.deepEqual(problemsOf('service: &k shards\nshards: 4\n*k : 8\nendpoints: []\n'), [DUPLICATE(3, 1)]);
  const endpoint = 'endpoints:\n  - id: &p port\n    address: 10.0.0.1\n    port: 1\n    *p : 2\n';
  assert.deepEqual(problemsOf(endpoint), [DUPLICATE(5, 5)]);
});

test('keys of other types that name one property are duplicate keys, inside kubernetes too', () => {
  assert.deepEqual(problemsOf('kubernetes:\n  namespace: a\n  1: x\n  "1": y\n'), [DUPLICATE(4, 3)]);
  assert.deepEqual(problemsOf('kubernetes:\n  namespace: a\n  true: x\n  "true": y\n'), [DUPLICATE(4, 3)]);
  assert.deepEqual(problemsOf('kubernetes:\n  namespace: a\n  ~: x\n  "": y\n'), [DUPLICATE(4, 3)]);
});

test('keys that name different properties stay apart', () => {
  const config = parseConfig('kubernetes:\n  namespace: a\n  1: x\n  "01": y\n  1.5: z\n', 'd.yaml');
  assert.deepEqual(config.kubernetes?.value, { '01': 'y', '1': 'x', '1.5': 'z', namespace: 'a' });
});
