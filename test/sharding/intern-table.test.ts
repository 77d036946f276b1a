// The intern tables (endpoint ids, zones, fabrics as small integers) belong to a map's lineage and
// stay bounded while pods come and go: pod names change on every rollout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { applyEndpointChange, computeShardMap, type ShardMap } from '../../src/sharding/index.js';
import { internTableSize } from '../../src/sharding/shard-map-state.js';

const LIVE = 20;
const GENERATIONS = 50;
const policy: ShardingPolicy = { shardCount: 256, replicas: 3, spread: 'zone' };

/** Pod `i` of rollout generation `g`: a fresh name each generation, the same place in the cluster. */
const pod = (g: number, i: number): Endpoint => ({
  id: `cache-${g}-${i}`,
  address: `10.0.${i}.${g % 250}`,
  port: 7000,
  locality: { region: 'r1', zone: `z${i % 3}`, subzone: `nvl-${i % 6}` },
  weight: 1 + (i % 4),
  ready: true,
});
const generation = (g: number): Endpoint[] => Array.from({ length: LIVE }, (_, i) => pod(g, i));

/** Entries a map of at most LIVE + 1 endpoints may hold: the rebuild threshold, plus one change's own. */
const BOUND = 4 * (LIVE + 1) + 64 + 3;

test(`incremental updates through ${GENERATIONS} rollouts of ${LIVE} pods: the intern table stays bounded, the maps equal full computations`, () => {
  let map: ShardMap = computeShardMap(generation(0), policy);
  let largest = internTableSize(map)!;
  for (let g = 1; g < GENERATIONS; g++) {
    // A rolling update: each new pod comes up, then its predecessor goes away.
    for (let i = 0; i < LIVE; i++) {
      map = applyEndpointChange(map, { kind: 'upsert', endpoint: pod(g, i) });
      largest = Math.max(largest, internTableSize(map)!);
      map = applyEndpointChange(map, { kind: 'remove', id: pod(g - 1, i).id });
      largest = Math.max(largest, internTableSize(map)!);
    }
    assert.deepEqual(map, computeShardMap(generation(g), policy), `generation ${g}`);
  }
  assert.ok(largest <= BOUND, `the table held ${largest} entries, more than ${BOUND}, after ${GENERATIONS * LIVE} distinct pods`);
  assert.ok(GENERATIONS * LIVE > BOUND, 'the rollouts saw more pods than the bound (else the test proves nothing)');
});

test(`full computations over ${GENERATIONS} rollouts: each map's table holds only its own endpoints and localities`, () => {
  for (let g = 0; g < GENERATIONS; g++) {
    const map = computeShardMap(generation(g), policy);
    // 20 ids, 3 zones, 6 fabrics.
    assert.equal(internTableSize(map), LIVE + 3 + 6, `generation ${g}`);
  }
});

test('a map without bookkeeping (parsed, not computed here) has no intern table', () => {
  const parsed = JSON.parse(JSON.stringify(computeShardMap(generation(0), policy))) as ShardMap;
  assert.equal(internTableSize(parsed), undefined);
});
