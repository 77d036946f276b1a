// Proxy classes bounded by the topology (docs/security.md "xDS streams"): what a client says about
// itself only splits classes when the translator's output depends on it, and then the output of an
// unknown value is the output of no value, so one class serves them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveProxyClass, translate, resourceToJson } from '../../../src/xds/translator/index.js';
import { proxyClassKey, type ProxyClass } from '../../../src/xds/resources.js';
import { endpoint, handInput, locality } from './fixtures.js';

const nodes = [
  endpoint('a', '10.0.0.1', { locality: locality('z1', 'f1') }),
  endpoint('b', '10.0.0.2', { locality: locality('z1', 'f2') }),
  endpoint('c', '10.0.0.3', { locality: locality('z2', 'f3') }),
  endpoint('d', '10.0.0.4', { locality: locality('z2', 'f4') }),
];
// Three owners a shard: two replicas to order, ranked so that every place named below puts a
// later one first (a place that keeps them in rank order gets what no place gets).
const input = handInput(nodes, Array.from({ length: 6 }, (_, s) => (s % 2 === 0 ? ['a', 'c', 'b'] : ['b', 'a', 'c'])));
const grpc = (zone: string, subzone: string): ProxyClass => ({ flavor: 'grpc', zone, subzone });
const key = (c: ProxyClass): string => proxyClassKey(effectiveProxyClass(c, input));
const output = (c: ProxyClass): unknown => {
  const set = translate(input, c);
  return [...set.cluster, ...set.endpoint, ...set.route].map((r) => resourceToJson(r));
};

test('gRPC: a known zone and fabric keep their class; unknown ones share the class of no locality', () => {
  assert.equal(key(grpc('z1', 'f1')), 'grpc|z1|f1');
  assert.equal(key(grpc('z1', 'nowhere')), 'grpc|z1|', 'a fabric unknown in its zone is dropped');
  assert.equal(key(grpc('z1', 'f3')), 'grpc|z1|', 'f3 is in z2, not z1');
  assert.equal(key(grpc('', 'f3')), 'grpc||f3', 'without a zone, a known fabric counts');
  assert.equal(key(grpc('made-up', 'f1')), 'grpc||', 'an unknown zone disables the fabric match too');
  assert.equal(key(grpc('made-up-1', 'x')), key(grpc('made-up-2', 'y')));
  for (const c of [grpc('made-up', 'f1'), grpc('z1', 'nowhere'), grpc('', 'nowhere'), grpc('z1', 'f3')]) {
    assert.deepEqual(output(c), output(effectiveProxyClass(c, input)), `${proxyClassKey(c)} gets what its bounded class gets`);
  }
});

test('agents: a node with assignments keeps its class; any other shares the one "unknown node" class', () => {
  const agent = (node: string): ProxyClass => ({ flavor: 'agent', zone: '', subzone: '', node });
  assert.equal(key(agent('a')), 'agent|||a');
  assert.equal(key(agent('intruder-1')), 'agent|||');
  assert.equal(key(agent('intruder-2')), 'agent|||');
  assert.deepEqual(translate(input, agent('intruder-1')).assignment, translate(input, agent('')).assignment);
  assert.equal(key({ flavor: 'envoy', zone: 'z9', subzone: 'x' }), 'envoy||');
});

test('a zone and fabric are matched as a pair, not as text joined with a separator a fabric may hold', () => {
  // Endpoints in zone "z1" (fabric "f1") and zone "z1\nf9" (fabrics "x" and "y"): a client in zone "z1" naming
  // fabric "f9\nx" matched the second pair's joined text and kept a fabric no endpoint of z1 has.
  const odd = handInput(
    [endpoint('a', '10.0.0.1', { locality: locality('z1', 'f1') }), endpoint('b', '10.0.0.2', { locality: locality('z1\nf9', 'x') }), endpoint('c', '10.0.0.3', { locality: locality('z1\nf9', 'y') })],
    [['a', 'c', 'b'], ['b', 'c', 'a']],
  );
  assert.equal(proxyClassKey(effectiveProxyClass(grpc('z1', 'f9\nx'), odd)), 'grpc|z1|');
  assert.equal(proxyClassKey(effectiveProxyClass(grpc('z1\nf9', 'x'), odd)), 'grpc|z1\nf9|x');
});
