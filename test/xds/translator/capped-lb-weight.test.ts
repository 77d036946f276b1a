// Envoy and gRPC clients receive an endpoint's weight x 100 as its load_balancing_weight, capped
// at MAX_LB_WEIGHT (858993, weight 8589.93) so no sum passes uint32. Heavier endpoints then share
// a shard's requests (a hot shard's readers, a dead primary's replicas) as if they weighed
// 8589.93, while ownership follows the exact weights: the translation says so instead of
// flattening the ratios silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import { translateWithWarnings } from '../../../src/xds/translator/index.js';
import { MAX_LB_WEIGHT } from '../../../src/core/endpoint.js';
import { endpoint, topologyOf } from './fixtures.js';

const CLASSES: ProxyClass[] = [
  { flavor: 'envoy', zone: '', subzone: '' },
  { flavor: 'grpc', zone: '', subzone: '' },
  { flavor: 'grpc', zone: '', subzone: '', picker: true },
];

function warningsFor(weights: readonly number[]): string[] {
  const eps = weights.map((weight, i) => endpoint(`cache-node-${i}`, `10.0.0.${i + 1}`, { weight }));
  const policy = { shardCount: 64, replicas: 2, spread: 'none' as const };
  const input = { shardMap: computeShardMap(eps, policy), topology: topologyOf(eps, policy) };
  const perClass = CLASSES.map((proxy) => translateWithWarnings(input, proxy).warnings.filter((w) => w.includes('load_balancing_weight')));
  // Every flavor says the same.
  for (const w of perClass) assert.deepEqual(w, perClass[0]);
  return perClass[0]!;
}

test('weights past the load-balancing cap, unequal, are a warning naming the heaviest endpoint and the remedy, for every flavor', () => {
  const [w, ...rest] = warningsFor([16384, 8192, 20000, 1]);
  assert.deepEqual(rest, []);
  assert.equal(
    w,
    `2 serving endpoints weigh more than ${MAX_LB_WEIGHT / 100} (the heaviest, cache-node-2, 20000): Envoy and gRPC clients receive a load_balancing_weight of at most ${MAX_LB_WEIGHT} (weight x 100), ` +
      `so they spread requests between a shard's owners as if those weighed ${MAX_LB_WEIGHT / 100}; weights are relative, so scale them all down (shard ownership follows the exact weights either way)`,
  );
});

test('no warning when no weight passes the cap, or when every endpoint weighs the same', () => {
  assert.deepEqual(warningsFor([8589.93, 1, 640]), []);
  assert.deepEqual(warningsFor([20000, 20000, 20000]), []);
});
