// Incremental == full (docs/hashing.md "Incremental updates") at the edges the main property test
// does not draw: weights at the bounds (1e-290, 1e290) and mixed across 580 orders of magnitude,
// draining endpoints, S = 1, R up to 255, one endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { applyEndpointChange, computeShardMap, type EndpointChange } from '../../src/sharding/index.js';
import { nextShardMap } from '../../src/sharding/next-map.js';
import { localityArb, PROPERTY_SEED } from './arbitraries.js';

const runs = (numRuns: number) => ({ numRuns, seed: PROPERTY_SEED });

const edgeWeightArb = fc.oneof(
  fc.constantFrom(0, 1e-290, 1e290, 1, 1e-290 * 1.5, 1e290 / 3, 2e-290),
  fc.double({ min: 1e-290, max: 1e290, noNaN: true, noDefaultInfinity: true }),
);

const edgeEndpointArb: fc.Arbitrary<Endpoint> = fc
  .record({
    id: fc.nat({ max: 12 }).map((i) => `n${i}`),
    locality: localityArb,
    weight: edgeWeightArb,
    ready: fc.boolean(),
    draining: fc.boolean(),
  })
  .map((e) => ({ id: e.id, address: '10.0.0.1', port: 7000, locality: e.locality, weight: e.weight, ready: e.ready, ...(e.draining ? { draining: true } : {}) }));

const edgePolicyArb: fc.Arbitrary<ShardingPolicy> = fc.record({
  shardCount: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 24 })),
  replicas: fc.oneof(fc.constant(255), fc.integer({ min: 1, max: 14 })),
  spread: fc.constantFrom('none' as const, 'zone' as const, 'subzone' as const),
});

type Op = { remove: boolean; endpoint: Endpoint };
const opArb: fc.Arbitrary<Op> = fc.record({ remove: fc.boolean(), endpoint: edgeEndpointArb });

function apply(list: readonly Endpoint[], change: EndpointChange): Endpoint[] {
  const id = change.kind === 'remove' ? change.id : change.endpoint.id;
  const rest = list.filter((e) => e.id !== id);
  return change.kind === 'upsert' ? [...rest, change.endpoint] : rest;
}

test('incremental equals full with weights at their bounds, draining endpoints, S = 1, R up to 255', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(edgeEndpointArb, { selector: (e) => e.id, maxLength: 8 }),
      edgePolicyArb,
      fc.array(opArb, { minLength: 1, maxLength: 20 }),
      (start, policy, ops) => {
        let list = start;
        let map = computeShardMap(list, policy);
        for (const op of ops) {
          const change: EndpointChange = op.remove ? { kind: 'remove', id: op.endpoint.id } : { kind: 'upsert', endpoint: op.endpoint };
          const next = applyEndpointChange(map, change);
          list = apply(list, change);
          assert.deepEqual(next, computeShardMap(list, policy), `after ${JSON.stringify(change)}`);
          assert.deepEqual(nextShardMap(map, list, policy).map, next);
          map = next;
        }
      },
    ),
    runs(300),
  );
});

test('one endpoint: added, reweighted to the bounds, drained and removed, incremental equals full', () => {
  for (const policy of [
    { shardCount: 1, replicas: 1, spread: 'none' as const },
    { shardCount: 7, replicas: 255, spread: 'zone' as const },
    { shardCount: 3, replicas: 2, spread: 'subzone' as const },
  ]) {
    const e: Endpoint = { id: 'only', address: '10.0.0.1', port: 1, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true };
    let map = computeShardMap([], policy);
    const steps: EndpointChange[] = [
      { kind: 'upsert', endpoint: e },
      { kind: 'upsert', endpoint: { ...e, weight: 1e290 } },
      { kind: 'upsert', endpoint: { ...e, weight: 1e-290 } },
      { kind: 'upsert', endpoint: { ...e, ready: false, draining: true } },
      { kind: 'upsert', endpoint: { ...e, weight: 0 } },
      { kind: 'remove', id: 'only' },
    ];
    let list: Endpoint[] = [];
    for (const change of steps) {
      map = applyEndpointChange(map, change);
      list = apply(list, change);
      assert.deepEqual(map, computeShardMap(list, policy), JSON.stringify(change));
    }
  }
});
