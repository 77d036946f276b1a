// The optimised selection (closed form per policy, 32-bit-half hashing) against the literal greedy
// walk over BigInt scores in reference.ts, on random small topologies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computeShardMap } from '../../src/sharding/index.js';
import { crowdedLocalityArb, endpointsArb, localityArb, policyArb, PROPERTY_SEED } from './arbitraries.js';
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

test('with many candidates (the bounded fast path and its fallback) it still equals the reference', () => {
  // More than R + 7 eligible endpoints, so selectFromU takes the log-free bound path; crowded
  // localities force its fallback when pass 1 cannot fill from the certified prefix.
  for (const locality of [localityArb, crowdedLocalityArb]) {
    fc.assert(
      fc.property(endpointsArb(40, locality, 12), policyArb(12, 5), (endpoints, policy) => {
        assert.deepEqual(computeShardMap(endpoints, policy).owners, referenceOwners(endpoints, policy));
      }),
      { numRuns: 60, seed: PROPERTY_SEED },
    );
  }
});
