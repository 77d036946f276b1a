// The optimised selection (closed form per policy, 32-bit-half hashing) against the literal greedy
// walk over BigInt scores in reference.ts, on random small topologies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computeShardMap } from '../../src/sharding/index.js';
import { crowdedLocalityArb, endpointsArb, policyArb, PROPERTY_SEED } from './arbitraries.js';
import { referenceOwners } from './reference.js';

test('computeShardMap equals the literal greedy reference for every policy', () => {
  fc.assert(
    fc.property(endpointsArb(10), policyArb(24), (endpoints, policy) => {
      const map = computeShardMap(endpoints, policy);
      assert.deepEqual(map.owners, referenceOwners(endpoints, policy));
    }),
    { numRuns: 300, seed: PROPERTY_SEED },
  );
});

test('computeShardMap equals the reference when zones and fabrics are fewer than R', () => {
  fc.assert(
    fc.property(endpointsArb(10, crowdedLocalityArb), policyArb(24, 5), (endpoints, policy) => {
      assert.deepEqual(computeShardMap(endpoints, policy).owners, referenceOwners(endpoints, policy));
    }),
    { numRuns: 200, seed: PROPERTY_SEED },
  );
});
