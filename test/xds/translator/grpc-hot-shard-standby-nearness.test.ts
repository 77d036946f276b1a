// A hot shard for proxyless gRPC: its readers share priority 0, and the owners after them are
// standbys ordered by nearness to the proxy like any shard's replicas (src/xds/translator/grpc-clusters.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { grpcOwnersLoadAssignment } from '../../../src/xds/translator/grpc-clusters.js';
import { endpoint, locality } from './fixtures.js';

const owners = [
  endpoint('a', '10.0.0.1', { locality: locality('z1', 'f1') }),
  endpoint('b', '10.0.0.2', { locality: locality('z2', 'f2') }),
  endpoint('c', '10.0.0.3', { locality: locality('z2', 'f3') }),
  endpoint('d', '10.0.0.4', { locality: locality('z1', 'f4') }),
];

/** The ids at each priority, in priority order. */
function priorities(proxy: ProxyClass, readers: number): string[][] {
  const cla = grpcOwnersLoadAssignment('c', owners, proxy, readers);
  const out: string[][] = [];
  for (const l of cla.endpoints) {
    const ids = l.lbEndpoints.map((lb) => (lb.hostIdentifier.case === 'endpoint' ? lb.hostIdentifier.value.hostname : ''));
    out[l.priority] = [...(out[l.priority] ?? []), ...ids].sort();
  }
  return out;
}

test("a hot shard's standbys fail over nearest first: a proxy in z1 tries d (its zone) before c", () => {
  assert.deepEqual(priorities({ flavor: 'grpc', zone: 'z1', subzone: '' }, 2), [['a', 'b'], ['d'], ['c']]);
  assert.deepEqual(priorities({ flavor: 'grpc', zone: 'z2', subzone: '' }, 2), [['a', 'b'], ['c'], ['d']]);
});

test('the same owners with one reader: the primary alone at priority 0, replicas nearest first', () => {
  assert.deepEqual(priorities({ flavor: 'grpc', zone: 'z1', subzone: '' }, 1), [['a'], ['d'], ['b'], ['c']]);
});
