// nextShardMap takes the incremental path only under the same policy: a topology that changes the
// spread policy alone (same endpoints, S and R) gets a map computed under the new policy, and a
// list that repeats an endpoint id is refused, as computeShardMap refuses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { KeywayError } from '../../src/core/errors.js';
import { computeShardMap, nextShardMap } from '../../src/sharding/index.js';

/** Two zones, two fabrics each: spread zone and spread none give different owners. */
const nodes: Endpoint[] = ['a', 'b', 'c', 'd'].map((id, i) => ({
  id,
  address: `10.0.0.${i + 1}`,
  port: 7000,
  locality: { region: 'r', zone: i < 2 ? 'z1' : 'z2', subzone: `f${i}` },
  weight: 1,
  ready: true,
}));
const NONE: ShardingPolicy = { shardCount: 64, replicas: 2, spread: 'none' };
const ZONE: ShardingPolicy = { ...NONE, spread: 'zone' };

test('changing only the spread policy recomputes the map under the new policy', () => {
  const before = computeShardMap(nodes, NONE);
  const expected = computeShardMap(nodes, ZONE);
  assert.notDeepEqual(before.owners, expected.owners, 'the fixture must tell the two policies apart');
  const next = nextShardMap(before, nodes, ZONE);
  assert.equal(next.mode, 'full');
  assert.equal(next.map.policy.spread, 'zone');
  assert.deepEqual(next.map.owners, expected.owners);
  assert.equal(next.map.version, expected.version);
});

test('an endpoint list that repeats an id is refused, even when it otherwise matches the previous map', () => {
  const before = computeShardMap(nodes, NONE);
  assert.throws(
    () => nextShardMap(before, [...nodes, nodes[0]!], NONE),
    (e: unknown) => e instanceof KeywayError && e.code === 'DUPLICATE_ENDPOINT',
  );
});
