/**
 * Stock gRPC classes (one per zone and fabric) of one map are given the very same route
 * configuration message, so the snapshot cache encodes it once per change, not once per class;
 * a map that routes a shard elsewhere gets a new one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeShardMap } from '../../../src/sharding/index.js';
import { translate } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { endpoint, locality, topologyOf } from './fixtures.js';

const classes: ProxyClass[] = ['a', 'b', 'c'].flatMap((zone) => ['f1', 'f2'].map((subzone) => ({ flavor: 'grpc' as const, zone: `z-${zone}`, subzone })));
const nodes = (n: number) => Array.from({ length: n }, (_, i) => endpoint(`node-${i}`, `10.0.0.${i + 1}`, { locality: locality(`z-${'abc'[i % 3]}`, `f${1 + (i % 2)}`) }));
const policy = { shardCount: 256, replicas: 2, spread: 'none' as const };

test('every stock gRPC class of one map gets the same route configuration object; a new map, a new one', () => {
  const four = nodes(4);
  const input = { shardMap: computeShardMap(four, policy), topology: topologyOf(four, policy) };
  const routes = classes.map((c) => translate(input, c).route![0]!.message);
  assert.ok(routes.every((r) => r === routes[0]), 'one message for all classes');
  const five = nodes(5);
  const next = translate({ shardMap: computeShardMap(five, policy), topology: topologyOf(five, policy) }, classes[0]!).route![0]!.message;
  assert.notEqual(next, routes[0]);
  assert.notDeepEqual(next, routes[0]);
  // Back to the first map: the same content again, and consistent with a fresh translation.
  const again = translate(input, classes[1]!).route![0]!.message;
  assert.deepEqual(again, routes[0]);
});

test('missingHeader any and reject give different configurations, each shared', () => {
  const four = nodes(4);
  const map = computeShardMap(four, policy);
  const any = translate({ shardMap: map, topology: topologyOf(four, policy, { missingHeader: 'any' }) }, classes[0]!).route![0]!.message;
  const reject = translate({ shardMap: map, topology: topologyOf(four, policy, { missingHeader: 'reject' }) }, classes[1]!).route![0]!.message;
  assert.notDeepEqual(any, reject);
  assert.equal(translate({ shardMap: map, topology: topologyOf(four, policy, { missingHeader: 'reject' }) }, classes[2]!).route![0]!.message, reject);
});
