// hotShards.snapshot.url (docs/configuration.md "hotShards"): a URL keyway cannot query is refused
// at its line, not accepted and then failed at every read of every window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { KeywayErrors } from '../../src/core/errors.js';

const file = (url: string): string => `hotShards:\n  snapshot:\n    source: prometheus\n    url: ${JSON.stringify(url)}\nendpoints: []\n`;

function urlProblem(url: string): string {
  try {
    parseConfig(file(url), 'topo.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors);
    assert.equal(err.errors.length, 1, err.message);
    const e = err.errors[0]!;
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.equal(e.location.field, 'hotShards.snapshot.url');
    assert.equal(e.location.line, 4);
    return e.message;
  }
  assert.fail(`${url} was accepted`);
}

test('a Prometheus URL with credentials is refused, without quoting the password', () => {
  const message = urlProblem('http://keyway:s3cret@prometheus:9090');
  assert.match(message, /credentials/);
  assert.doesNotMatch(message, /s3cret/);
  assert.match(urlProblem('https://user@prometheus'), /credentials/);
});

test('a Prometheus URL with a query, a fragment, white space or no valid host:port is refused', () => {
  assert.match(urlProblem('http://prometheus:9090/?tenant=a'), /query or fragment/);
  assert.match(urlProblem('http://prometheus:9090#x'), /query or fragment/);
  assert.match(urlProblem('http://prometheus:9090 '), /white space/);
  assert.match(urlProblem('http://prometheus:99999'), /no valid URL/);
});

test('a Prometheus URL with a path prefix or a trailing slash is kept as written', () => {
  for (const url of ['http://prometheus:9090', 'https://prometheus.monitoring.svc/', 'http://10.0.0.5:9090/prometheus', 'http://[fd00::5]:9090']) {
    const snapshot = parseConfig(file(url), 'topo.yaml').hotShards.snapshot;
    assert.deepEqual(snapshot, { source: 'prometheus', url, lagMs: 30_000 });
  }
});
