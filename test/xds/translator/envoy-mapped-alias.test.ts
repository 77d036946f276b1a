// An endpoint whose address is written IPv4-mapped (`::ffff:10.0.0.1`) is an IPv4 peer, and its
// plain IPv4 spelling is another key of the same socket to Envoy (`10.0.0.1:8080` next to
// `[::ffff:10.0.0.1]:8080`, findings 2b the other way round). When it both leads and backs up
// shards, it used to be treated as IPv6: no priority-1 entry, a warning, and the shards it backs
// up had no standby in Envoy until ownership moved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterLoadAssignment } from '../../../src/xds/proto.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { checkConsistency, translateWithWarnings } from '../../../src/xds/translator/index.js';
import { endpoint, handInput } from './fixtures.js';

const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };

interface Entry {
  readonly id: string;
  readonly priority: number;
  readonly address: string;
  readonly ipv4Compat: boolean;
  readonly shards: readonly string[];
  readonly healthChecked: boolean;
}

function entries(cla: ClusterLoadAssignment): Entry[] {
  return cla.endpoints.flatMap((l) =>
    l.lbEndpoints.flatMap((lb) => {
      if (lb.hostIdentifier.case !== 'endpoint') return [];
      const e = lb.hostIdentifier.value;
      const sa = e.address?.address;
      if (sa?.case !== 'socketAddress') return [];
      const list = lb.metadata?.filterMetadata['envoy.lb'] as Record<string, string[]> | undefined;
      const shards = list?.['cache-shard'] ?? [];
      return [{ id: e.hostname, priority: l.priority, address: sa.value.address, ipv4Compat: sa.value.ipv4Compat, shards, healthChecked: e.healthCheckConfig?.disableActiveHealthCheck !== true }];
    }),
  );
}

for (const mapped of ['::ffff:10.0.0.1', '::FFFF:a00:1', '0:0:0:0:0:ffff:10.0.0.1']) {
  test(`an endpoint at ${mapped} that leads and backs up is a standby at its IPv4 spelling`, () => {
    const eps = [endpoint('a', mapped), endpoint('b', '10.0.0.2'), endpoint('c', '10.0.0.3')];
    const t = translateWithWarnings(handInput(eps, [['a', 'b'], ['b', 'a'], ['c', 'a']]), ENVOY);
    assert.deepEqual(checkConsistency(t.resources), []);
    assert.ok(!t.warnings.some((w) => w.includes('endpoint a ')), t.warnings.join('\n'));
    const mine = entries(t.resources.endpoint[0]!.message as ClusterLoadAssignment).filter((e) => e.id === 'a');
    assert.deepEqual(mine, [
      { id: 'a', priority: 0, address: mapped, ipv4Compat: true, shards: ['0'], healthChecked: true },
      { id: 'a', priority: 1, address: '10.0.0.1', ipv4Compat: false, shards: ['1', '2'], healthChecked: false },
    ]);
  });
}

test('a true IPv6 endpoint that leads and backs up still has no alias (warned), and one that leads nothing keeps its own address', () => {
  const eps = [endpoint('a', '2001:db8::1'), endpoint('b', '10.0.0.2'), endpoint('c', '::ffff:0:10.0.0.3')];
  const t = translateWithWarnings(handInput(eps, [['a', 'b'], ['b', 'a'], ['b', 'c']]), ENVOY);
  assert.deepEqual(checkConsistency(t.resources), []);
  assert.ok(t.warnings.some((w) => w.includes('endpoint a (2001:db8::1) leads shards and backs up 1 others')), t.warnings.join('\n'));
  const all = entries(t.resources.endpoint[0]!.message as ClusterLoadAssignment);
  assert.deepEqual(all.filter((e) => e.id === 'a').map((e) => e.priority), [0]);
  // IPv4-translated (::ffff:0:a.b.c.d) is not IPv4-mapped: an IPv6 address, at its own spelling.
  assert.deepEqual(all.filter((e) => e.id === 'c').map((e) => [e.priority, e.address, e.ipv4Compat]), [[1, '::ffff:0:10.0.0.3', false]]);
});
