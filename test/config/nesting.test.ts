/**
 * Nesting within the file-size budget: a 1 MiB file of `[[[[...` made the YAML library build a
 * million nested nodes (seconds on the event loop and about 1 GB) before failing on its own
 * stack. Past MAX_YAML_NESTING levels a file is refused at once, at the level that goes past it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_YAML_NESTING, parseConfig } from '../../src/config/load.js';
import { onlyError as parseError, type OneError } from './only-error.js';
import { MAX_TOPOLOGY_FILE_BYTES } from '../../src/core/limits.js';

const onlyError = (text: string): OneError => parseError(text, 'deep.yaml');

test('flow collections nested past the limit: refused at the first level past it', () => {
  const e = onlyError(`endpoints: []\nshards: ${'['.repeat(MAX_YAML_NESTING + 5)}\n`);
  assert.equal(e.code, 'CONFIG_PARSE');
  assert.equal(e.line, 2);
  // The file's top-level mapping is the first level, so the 100th `[` is the 101st.
  assert.equal(e.column, 'shards: '.length + MAX_YAML_NESTING);
  assert.match(e.message, new RegExp(`nested more than ${MAX_YAML_NESTING} levels`));
});

test('closing brackets in quoted text or comments do not hide the levels they sit between', () => {
  for (const level of ['["]", ', "[']', ", '[ # ]\n  ', '{"}": ']) {
    const e = onlyError(`endpoints: []\nshards: ${level.repeat(MAX_YAML_NESTING + 5)}\n`);
    assert.equal(e.code, 'CONFIG_PARSE', e.message);
    assert.match(e.message, new RegExp(`nested more than ${MAX_YAML_NESTING} levels`), JSON.stringify(level));
  }
});

test('block collections nested on one line (`- - - x`, `? ? x`) count too', () => {
  for (const indicator of ['- ', '? ', '- ? ']) {
    const e = onlyError(`endpoints:\n${indicator.repeat(MAX_YAML_NESTING + 1)}x\n`);
    assert.equal(e.code, 'CONFIG_PARSE', e.message);
    assert.equal(e.line, 2);
    assert.match(e.message, new RegExp(`nested more than ${MAX_YAML_NESTING} levels`));
  }
});

test('a file of nothing but `[` up to the size budget is refused quickly', () => {
  const text = `shards: ${'['.repeat(MAX_TOPOLOGY_FILE_BYTES - 20)}\n`;
  const started = performance.now();
  const e = onlyError(text);
  const ms = performance.now() - started;
  assert.match(e.message, /nested more than/);
  assert.ok(ms < 1000, `took ${Math.round(ms)} ms`);
});

test('up to the limit, and brackets in comments and quoted text, are not nesting', () => {
  const deep = `${'['.repeat(MAX_YAML_NESTING - 1)}1${']'.repeat(MAX_YAML_NESTING - 1)}`;
  const e = onlyError(`endpoints: []\nextra: ${deep}\n`);
  assert.match(e.message, /extra: unknown key/);
  const brackets = '[{'.repeat(MAX_YAML_NESTING);
  const text = [
    ...Array.from({ length: 3 }, () => `# ${brackets}`),
    'endpoints:',
    '  - id: a',
    '    address: 10.0.0.1',
    '    port: 80',
    // The anchor sends the file to the full parse, which the limit guards.
    `    locality: &l {zone: "${brackets}", subzone: '${'- '.repeat(MAX_YAML_NESTING)}'}`,
    '',
  ].join('\n');
  assert.equal(parseConfig(text, 'ok.yaml').topology.endpoints[0]!.locality.zone, brackets);
});
