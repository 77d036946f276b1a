/**
 * The make-before-break sets for stock gRPC clients (src/app/grpc-staged-sets.ts): what each phase
 * serves, that every set is consistent (routes name only defined clusters), and which phase comes next.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteConfiguration } from '../../src/xds/proto.js';
import type { ResourceSet, TranslatedResource } from '../../src/xds/resources.js';
import { checkConsistency, translate } from '../../src/xds/translator/index.js';
import { computedInput, sixNodes } from '../xds/translator/fixtures.js';
import { firstPhase, nextPhase, stagedSet, STAGING_HEADER } from '../../src/app/grpc-staged-sets.js';
import { grpcSet } from './grpc-sets.js';


/** Per route of the first virtual host: `shard->cluster` for a real route, `staged:cluster` for a staging one. */
function routes(set: ResourceSet): string[] {
  const config = set.route[0]!.message as RouteConfiguration;
  return config.virtualHosts[0]!.routes.map((route) => {
    const header = route.match!.headers[0]!;
    const cluster = route.action.case === 'route' && route.action.value.clusterSpecifier.case === 'cluster' ? route.action.value.clusterSpecifier.value : '?';
    const value = header.headerMatchSpecifier.case === 'stringMatch' && header.headerMatchSpecifier.value.matchPattern.case === 'exact' ? header.headerMatchSpecifier.value.matchPattern.value : '?';
    return header.name === STAGING_HEADER ? `staged:${cluster}` : `${value}->${cluster}`;
  });
}
const names = (list: readonly TranslatedResource[]): string[] => list.map((r) => r.name);

test('a change that creates clusters: add (old routes, new clusters staged), switch (new routes, old clusters staged), done', () => {
  const before = grpcSet(['a,b', 'b,c']);
  const after = grpcSet(['a,b', 'c,d']);
  assert.equal(firstPhase(before, after), 'add');

  const add = stagedSet(before, after, 'add');
  assert.deepEqual(routes(add), ['0->a,b', '1->b,c', 'staged:c,d']);
  assert.deepEqual(names(add.cluster), ['a,b', 'b,c', 'c,d']);
  assert.deepEqual(names(add.endpoint), ['a,b', 'b,c', 'c,d']);
  assert.deepEqual(checkConsistency(add), []);

  assert.equal(nextPhase('add', before, after), 'switch');
  const sw = stagedSet(before, after, 'switch');
  assert.deepEqual(routes(sw), ['0->a,b', '1->c,d', 'staged:b,c']);
  assert.deepEqual(names(sw.cluster), ['a,b', 'b,c', 'c,d']);
  assert.deepEqual(checkConsistency(sw), []);

  assert.equal(nextPhase('switch', before, after), 'done');
  assert.equal(stagedSet(before, after, 'done'), after);
});

test('a change that only drops clusters starts at switch; one that keeps them needs no staging', () => {
  const before = grpcSet(['a,b', 'b,c']);
  const after = grpcSet(['a,b', 'a,b']);
  assert.equal(firstPhase(before, after), 'switch');
  assert.deepEqual(routes(stagedSet(before, after, 'switch')), ['0->a,b', '1->a,b', 'staged:b,c']);
  assert.equal(firstPhase(after, grpcSet(['a,b', 'a,b'])), 'done');
  // Only adding: add, then done (nothing leaves).
  const grown = grpcSet(['a,b', 'b,c', 'c,d']);
  assert.equal(firstPhase(before, grown), 'add');
  assert.equal(nextPhase('add', before, grown), 'done');
});

test('a change during a change starts from the staged set: its staging routes are replaced, not repeated', () => {
  const before = grpcSet(['a,b', 'b,c']);
  const mid = stagedSet(before, grpcSet(['a,b', 'c,d']), 'add');
  const after = grpcSet(['a,b', 'd,e']);
  assert.equal(firstPhase(mid, after), 'add');
  const add = stagedSet(mid, after, 'add');
  assert.deepEqual(routes(add), ['0->a,b', '1->b,c', 'staged:c,d', 'staged:d,e']);
  assert.deepEqual(checkConsistency(add), []);
  assert.deepEqual(routes(stagedSet(mid, after, 'switch')), ['0->a,b', '1->d,e', 'staged:b,c', 'staged:c,d']);
});

test("Envoy's route table is staged without staging routes: the add set keeps the old table and both sets of clusters", () => {
  const policy = { shardCount: 8, replicas: 2, spread: 'none' as const };
  const nodes = sixNodes();
  const before = translate(computedInput(nodes.slice(0, 4), policy, { routeShape: 'table' }), { flavor: 'envoy', zone: '', subzone: '' });
  const after = translate(computedInput(nodes.slice(0, 5), policy, { routeShape: 'table' }), { flavor: 'envoy', zone: '', subzone: '' });
  assert.equal(firstPhase(before, after), 'add');
  const add = stagedSet(before, after, 'add');
  assert.deepEqual(checkConsistency(add), []);
  assert.equal(add.route[0]!.message, before.route[0]!.message, 'the route table in force, untouched');
  assert.deepEqual(names(add.cluster), [...new Set([...names(before.cluster), ...names(after.cluster)])].sort());
  const sw = stagedSet(before, after, 'switch');
  assert.deepEqual(checkConsistency(sw), []);
  assert.equal(sw.route[0]!.message, after.route[0]!.message, 'the new route table, untouched');
});
