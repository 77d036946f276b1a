// routing.keyHeader must be a header a request can carry to Envoy's key-to-shard filter. A
// connection-specific (hop-by-hop) header never gets there: Envoy strips it (HTTP/1.1) or refuses
// it (HTTP/2), so with `keyHeader: te` every request was treated as carrying no key (400 with
// missingHeader: reject; a random node with any), while `keyway check` said ok.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { KeywayErrors } from '../../src/core/errors.js';

const file = (keyHeader: string): string => `shards: 8\nrouting:\n  keyHeader: ${keyHeader}\nendpoints: []\n`;

for (const name of ['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade']) {
  test(`routing.keyHeader ${name} (hop-by-hop) is refused at its field and line`, () => {
    assert.throws(
      () => parseConfig(file(name), 'topo.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof KeywayErrors, String(err));
        const hit = err.errors.find((e) => e.location.field === 'routing.keyHeader');
        assert.ok(hit, err.message);
        assert.equal(hit.code, 'CONFIG_INVALID');
        assert.equal(hit.location.line, 3);
        assert.match(hit.message, new RegExp(`must not be ${name}, a connection-specific \\(hop-by-hop\\) header`));
        return true;
      },
    );
  });
}

test('end-to-end header names that merely look alike stay allowed', () => {
  for (const name of ['x-te', 'tee', 'upgrade-key', 'x-connection', 'host', 'x-cache-key']) {
    assert.equal(parseConfig(file(name), 'topo.yaml').topology.xds.routing.keyHeader, name);
  }
});
