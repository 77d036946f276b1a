// What the translator keeps from one translation to the next (reuse.ts) is found by a key that must
// determine the value: locality strings are free text (docs/configuration.md: any Unicode, a NUL
// included), so two different localities must never give one key, or a changed endpoint is served
// with its old locality (a stale resource, under the version of the old content) and two classes
// of gRPC clients get each other's replica order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../../src/core/endpoint.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { resourceSetToJson, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { endpoint, handInput, locality } from './fixtures.js';

const GRPC: ProxyClass = { flavor: 'grpc', zone: '', subzone: '' };
const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };

/** Translates an unrelated fleet, so the next translation of `proxy` starts from nothing kept. */
function forget(proxy: ProxyClass, table = false): void {
  translate(handInput([endpoint('zz', '10.9.9.9')], [['zz'], ['zz']], table ? { routeShape: 'table' } : {}), proxy);
}

function fleet(b: Endpoint, table = false): TranslatorInput {
  const nodes = [endpoint('a', '10.0.0.1'), b];
  return handInput(nodes, [['a', 'b'], ['b', 'a']], table ? { routeShape: 'table' } : {});
}

// Two localities whose fields joined with NUL are the same text.
const SPLIT_ONE = locality('za\u0000nvl-1', '', 'r');
const SPLIT_TWO = locality('za', 'nvl-1\u0000', 'r');

for (const [what, proxy, table] of [
  ['gRPC owner tuples', GRPC, false],
  ['route-table node assignments', ENVOY, true],
] as const) {
  test(`${what}: an endpoint whose locality changes is served with the new one, whatever the locality strings hold`, () => {
    const before = fleet(endpoint('b', '10.0.0.2', { locality: SPLIT_ONE }), table);
    const after = fleet(endpoint('b', '10.0.0.2', { locality: SPLIT_TWO }), table);
    translate(before, proxy);
    const kept = resourceSetToJson(translate(after, proxy));
    forget(proxy, table);
    assert.deepEqual(kept, resourceSetToJson(translate(after, proxy)), 'what was kept equals a translation from scratch');
  });
}

test('gRPC clients of two zones and fabrics whose names joined with NUL are one text get each their own replica order', () => {
  const one: ProxyClass = { flavor: 'grpc', zone: 'a\u0000b', subzone: 'c' };
  const two: ProxyClass = { flavor: 'grpc', zone: 'a', subzone: 'b\u0000c' };
  const nodes = [
    endpoint('p', '10.0.0.1', { locality: locality('q', 'q') }),
    endpoint('r1', '10.0.0.2', { locality: locality(two.zone, two.subzone) }),
    endpoint('r2', '10.0.0.3', { locality: locality(one.zone, one.subzone) }),
  ];
  const input = handInput(nodes, [['p', 'r1', 'r2']]);
  translate(input, one);
  const kept = resourceSetToJson(translate(input, two));
  forget(two);
  const fresh = resourceSetToJson(translate(input, two));
  assert.deepEqual(kept, fresh, 'class two is served its own order, not class one\'s');
});
