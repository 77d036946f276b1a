/**
 * Values YAML's explicit tags make (`!!omap`, `!!set`, `!!binary`, `!!timestamp`) are refused by
 * their kind: an ordered mapping is not the plain mapping a section must be, and the message said
 * "must be a mapping, got a mapping".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { KeywayErrors } from '../../src/core/errors.js';

function messageOf(text: string): string {
  try {
    parseConfig(text, 't.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, String(err));
    assert.equal(err.errors.length, 1, err.message);
    return err.errors[0]!.message;
  }
  assert.fail('the file was accepted');
}

test('a tagged value is named by its kind in the error', () => {
  const cases: Array<[string, string]> = [
    ['endpoints: []\nhotShards: !!omap [enabled: true]\n', 't.yaml:2:1: hotShards: must be a mapping, got an ordered mapping (!!omap)'],
    ['endpoints: !!set {a}\n', 't.yaml:1:1: endpoints: must be a list of endpoints, got a set (!!set)'],
    ['endpoints:\n  - {id: !!binary aGk=, address: 10.0.0.1, port: 1}\n', 't.yaml:2:6: endpoints[0].id: must be a non-empty string, got binary data (!!binary)'],
    ['endpoints: []\nservice: !!timestamp 2001-12-14\n', 't.yaml:2:1: service: must be 1 to 253 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (gRPC clients dial xds:///<service>), got a timestamp (!!timestamp)'],
  ];
  for (const [text, message] of cases) assert.equal(messageOf(text), message, text);
});
