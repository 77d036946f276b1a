// Locality parts are free text, but proxies receive them as UTF-8 (protobuf strings): a lone
// surrogate, which YAML's \u escapes can write, has no UTF-8 form and reaches them as U+FFFD, so
// two such zones became one locality and gRPC clients rejected the whole assignment (a NACK).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { KeywayErrors } from '../../src/core/errors.js';

function fileWith(zone: string, anchor = false): string {
  return [
    'shards: 8',
    'endpoints:',
    `  - {id: a, address: 10.0.0.1, port: 80, locality: ${anchor ? '&l ' : ''}{zone: ${zone}}}`,
    `  - {id: b, address: 10.0.0.2, port: 80${anchor ? ', locality: *l' : ''}}`,
    '',
  ].join('\n');
}

for (const anchor of [false, true]) {
  const path = anchor ? 'full parse' : 'fast parse';
  test(`a locality with a lone surrogate is refused at its field and line (${path})`, () => {
    assert.throws(
      () => parseConfig(fileWith('"z\\ud800"', anchor), 'topo.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof KeywayErrors, String(err));
        const hit = err.errors.find((e) => e.location.field === 'endpoints[0].locality.zone');
        assert.ok(hit, err.message);
        assert.equal(hit.code, 'CONFIG_INVALID');
        assert.equal(hit.location.line, 3);
        assert.match(hit.message, /lone surrogate \(\\ud800\) at character 2/);
        return true;
      },
    );
  });

  test(`a surrogate pair and other odd text stay allowed in a locality (${path})`, () => {
    for (const [written, read] of [['"\\ud83d\\ude80"', '🚀'], ['"nul\\0 tab\\t"', 'nul\0 tab\t'], ['"日本"', '日本']] as const) {
      const { topology } = parseConfig(fileWith(written, anchor), 'topo.yaml');
      assert.equal(topology.endpoints[0]!.locality.zone, read);
    }
  });
}
