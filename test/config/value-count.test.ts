/**
 * Values within the file-size budget: the yaml library keeps about 1 KB per node, so a 1 MiB file
 * of 520,000 one-letter entries of flow lists took 11 s and 560 MB in the full parse, past the 512 MiB
 * memory limit of keyway's manifest. Past MAX_YAML_VALUES values a file is refused before that
 * parse, at the value that goes past it; the largest valid topology stays well under it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_YAML_VALUES, parseConfig } from '../../src/config/load.js';
import { onlyError as parseError, type OneError } from './only-error.js';
import { MAX_ENDPOINTS, MAX_TOPOLOGY_FILE_BYTES } from '../../src/core/limits.js';

const onlyError = (text: string): OneError => parseError(text, 'values.yaml');

const TOO_MANY = new RegExp(`^values\\.yaml:\\d+:\\d+: invalid YAML: more than ${MAX_YAML_VALUES} values`);

test('a file of more values than the limit is refused once, at the first value past it', () => {
  // `-` entries: one value each, the densest a block list gets.
  const text = `endpoints:\n${'-\n'.repeat(MAX_YAML_VALUES + 1000)}`;
  assert.ok(Buffer.byteLength(text) <= MAX_TOPOLOGY_FILE_BYTES, 'within the size budget');
  const e = onlyError(text);
  assert.equal(e.code, 'CONFIG_PARSE');
  assert.match(e.message, TOO_MANY);
  // Line 1 holds `endpoints` and its `:`, two values; entry k is on line k + 1.
  assert.equal(e.line, MAX_YAML_VALUES - 1 + 1);
  assert.equal(e.column, 1);
});

test('flow lists and keys without values count too', () => {
  const flow = `endpoints: []\nx:\n${`  - [${'a,'.repeat(499)}a]\n`.repeat(Math.ceil(MAX_YAML_VALUES / 500) + 10)}`;
  assert.match(onlyError(flow).message, TOO_MANY);
  const keys = `endpoints: []\nx:\n${Array.from({ length: MAX_YAML_VALUES / 2 + 10 }, (_, i) => ` k${i.toString(36)}:\n`).join('')}`;
  assert.ok(Buffer.byteLength(keys) <= MAX_TOPOLOGY_FILE_BYTES);
  assert.match(onlyError(keys).message, TOO_MANY);
});

test('the largest valid topology, every key written out, is read by the full parse and accepted', () => {
  const lines = ['shards: 1024', 'replicas: 3', 'spread: zone', 'endpoints:'];
  for (let i = 0; i < MAX_ENDPOINTS; i++) {
    // An anchor on the first entry sends the file to the full parse, where the count applies.
    lines.push(
      `  - id: ${i === 0 ? '&first ' : ''}n${i}`,
      `    address: 10.0.${i >> 8}.${i & 255}`,
      '    port: 7000',
      '    weight: 1',
      '    ready: false',
      '    draining: true',
      `    locality: {region: r, zone: z${i % 3}, subzone: f${i % 12}}`,
    );
  }
  const text = `${lines.join('\n')}\n`;
  assert.ok(text.length > MAX_YAML_VALUES, 'long enough to be counted');
  assert.equal(parseConfig(text, 'values.yaml').topology.endpoints.length, MAX_ENDPOINTS);
});
