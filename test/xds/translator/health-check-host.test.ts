// Envoy's active health check sends the cluster's name as its Host unless told otherwise. The
// route-table shape's clusters are named `<service>/node/<id>`, which is no valid Host: a Go
// net/http cache node answered every check 400 ("malformed Host header"), so each node's own
// cluster marked it failed and Envoy sent its shards to the backups at priority 1 (their checks
// are off, so they count as healthy). Those clusters now send the service as Host, which is what
// the subset shape's one cluster, named after the service, sends by default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../../src/xds/proto.js';
import { translate } from '../../../src/xds/translator/index.js';
import { computedInput, sixNodes } from './fixtures.js';

/** Bytes Go's net/http accepts in a Host header (httpguts.ValidHostHeader). */
const GO_VALID_HOST = /^[0-9A-Za-z!$%&'()*+,\-.:;=[\]_~]+$/;

/** The Host each cluster's health check sends: its `host`, or by default the cluster's name. */
function checkHosts(set: ReturnType<typeof translate>): string[] {
  return set.cluster.map((r) => {
    const hc = (r.message as Cluster).healthChecks[0]!.healthChecker;
    assert.equal(hc.case, 'httpHealthCheck', r.name);
    return hc.value.host || r.name;
  });
}

for (const routeShape of ['subset', 'table'] as const) {
  for (const service of ['keyway-cache', 'cache.svc:8080', 'a_b.c-d']) {
    test(`every ${routeShape}-shape cluster's health check sends the service ${service} as Host, a valid one`, () => {
      const input = computedInput(sixNodes(), { shardCount: 16, replicas: 2, spread: 'none' }, { routeShape });
      const set = translate({ ...input, topology: { ...input.topology, xds: { ...input.topology.xds, service } } }, { flavor: 'envoy', zone: '', subzone: '' });
      assert.equal(set.cluster.length, routeShape === 'table' ? 6 : 1);
      for (const host of checkHosts(set)) {
        assert.equal(host, service);
        assert.match(host, GO_VALID_HOST);
      }
      if (routeShape === 'table') assert.ok(set.cluster.every((r) => !GO_VALID_HOST.test(r.name)), 'the cluster names are no valid Host: the reason for the setting');
    });
  }
}
