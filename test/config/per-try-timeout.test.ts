// envoy.perTryTimeoutMs (docs/configuration.md): an integer of milliseconds from 0 (no per-try
// timeout, no hedge) to an hour; anything else is refused where it stands, like the other envoy fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { settingsWarnings } from '../../src/config/settings-warnings.js';
import { MAX_PER_TRY_TIMEOUT_MS } from '../../src/config/validate.js';
import { KeywayErrors } from '../../src/core/errors.js';
import { DEFAULT_PER_TRY_TIMEOUT_MS } from '../../src/core/settings.js';

const read = (envoy: string): number => parseConfig(`envoy: ${envoy}\nendpoints: []\n`, 'topo.yaml').topology.xds.envoy.perTryTimeoutMs;

test('envoy.perTryTimeoutMs: 5000 by default, with or without an envoy section', () => {
  assert.equal(DEFAULT_PER_TRY_TIMEOUT_MS, 5000);
  assert.equal(parseConfig('endpoints: []\n', 'topo.yaml').topology.xds.envoy.perTryTimeoutMs, 5000);
  assert.equal(read('{listenerPort: 9000}'), 5000);
});

test('envoy.perTryTimeoutMs: 0 and every integer up to an hour are read as written', () => {
  assert.equal(MAX_PER_TRY_TIMEOUT_MS, 3_600_000);
  for (const v of [0, 1, 30_000, MAX_PER_TRY_TIMEOUT_MS]) assert.equal(read(`{perTryTimeoutMs: ${v}}`), v);
});

test('envoy.perTryTimeoutMs: a negative, fractional, textual or too large value is CONFIG_INVALID at its line', () => {
  for (const bad of ['-1', '1.5', '"5s"', 'true', String(MAX_PER_TRY_TIMEOUT_MS + 1)]) {
    const text = `shards: 8\nenvoy:\n  routeShape: table\n  perTryTimeoutMs: ${bad}\nendpoints: []\n`;
    assert.throws(
      () => parseConfig(text, 'topo.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof KeywayErrors, String(err));
        const hit = err.errors.find((e) => e.location.field === 'envoy.perTryTimeoutMs');
        assert.ok(hit, err.message);
        assert.equal(hit.code, 'CONFIG_INVALID');
        assert.equal(hit.location.line, 4);
        assert.match(hit.message, /^topo\.yaml:4:.*envoy\.perTryTimeoutMs: must be an integer from 0 to 3600000 \(milliseconds\)/);
        return true;
      },
      bad,
    );
  }
});

test('envoy.perTryTimeoutMs at or past Envoy\'s 15 s route timeout is warned about: it changes nothing', () => {
  const warnings = (ms: number): string[] => settingsWarnings(parseConfig(`envoy: {perTryTimeoutMs: ${ms}}\nendpoints: []\n`, 'topo.yaml'));
  assert.deepEqual(warnings(14_999), []);
  assert.deepEqual(warnings(0), []);
  const [w, ...rest] = warnings(15_000);
  assert.equal(rest.length, 0);
  assert.match(w!, /^envoy\.perTryTimeoutMs: 15000 is at least Envoy's 15 s route timeout, which ends the request first/);
});
