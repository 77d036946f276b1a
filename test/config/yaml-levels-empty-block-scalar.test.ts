/**
 * Review: an empty block scalar (`subzone: |` with no text under it) must not make the next list
 * entry count as a deeper level. The lexer gives its body as an empty token, which YamlLevels
 * took as content on the entry's line, so the `-` that follows was read as `- - x` (a new level),
 * two levels more per entry: a valid file of 50 such endpoints was refused as nested too deeply.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lexer, parseDocument } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { YamlLevels } from '../../src/config/yaml-levels.js';

function deepest(text: string): number {
  const levels = new YamlLevels();
  let offset = 0;
  let max = 0;
  for (const token of new Lexer().lex(text)) {
    levels.next(token, offset);
    max = Math.max(max, levels.depth);
    if (token !== '\x02' && token !== '\x18' && token !== '\x1f') offset += token.length;
  }
  return max;
}

function valueDepth(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  return 1 + Math.max(0, ...Object.values(v).map(valueDepth));
}

test('list entries ending in an empty block scalar keep their level', () => {
  const text = 'list:\n' + '- a: |\n'.repeat(10) + '- b\n';
  assert.equal(deepest(text), valueDepth(parseDocument(text).toJS()));
});

test('a valid topology whose endpoints end in an empty block scalar is accepted', () => {
  // Flow localities make the cheap pre-count run the token count; the anchor forces the full parse.
  const flow = Array.from({ length: 90 }, (_, i) => `  - id: f${i}\n    address: 10.0.1.${i}\n    port: 7000\n    locality: {region: r, zone: z1}\n`).join('');
  const block = Array.from(
    { length: 50 },
    (_, i) => `  - id: b${i}\n    address: 10.0.2.${i}\n    port: 7000\n    locality:\n      region: r\n      zone: z2\n      subzone: |\n`,
  ).join('');
  const config = parseConfig(`shards: 64\nreplicas: &r 2\nendpoints:\n${flow}${block}`, 'empty-block-scalars.yaml');
  assert.ok(config);
});
