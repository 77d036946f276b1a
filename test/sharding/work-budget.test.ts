// The work budget in the sharding stage (docs/security.md "Work budget") and the two halves of a
// full computation (owner-slots.ts) that let it run in a worker thread: equal to computeShardMap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { KeywayError } from '../../src/core/errors.js';
import { MAX_ENDPOINTS, MAX_OWNER_SLOTS, MAX_SHARD_WORK, workBudgetViolation } from '../../src/core/limits.js';
import {
  applyEndpointChange,
  computeOwnerSlots,
  computeShardMap,
  nextShardMap,
  planShardMap,
  prepareShardMapInput,
  shardMapFromSlots,
} from '../../src/sharding/index.js';

const ep = (i: number, over: Partial<Endpoint> = {}): Endpoint => ({
  id: `node-${String(i).padStart(5, '0')}`,
  address: `10.0.${(i >> 8) & 255}.${i & 255}`,
  port: 7000,
  locality: { region: 'r', zone: `z${i % 3}`, subzone: `f${i % 7}` },
  weight: 1 + (i % 4),
  ready: i % 11 !== 5,
  ...over,
});
const eps = (n: number): Endpoint[] => Array.from({ length: n }, (_, i) => ep(i));
const budget = (field: string) => (e: unknown) => e instanceof KeywayError && e.code === 'BUDGET_EXCEEDED' && e.location.field === field;

test('each part of the budget is checked, at its edge and one past it', () => {
  assert.equal(workBudgetViolation(1024, 2, MAX_ENDPOINTS), undefined);
  assert.equal(workBudgetViolation(1024, 2, MAX_ENDPOINTS + 1)?.field, 'endpoints');
  assert.equal(workBudgetViolation(MAX_OWNER_SLOTS, 1, 1), undefined);
  assert.equal(workBudgetViolation(MAX_OWNER_SLOTS / 2 + 1, 2, 1)?.field, 'shards');
  assert.equal(workBudgetViolation(16384, 2, MAX_SHARD_WORK / 32768), undefined);
  assert.match(workBudgetViolation(16384, 2, MAX_SHARD_WORK / 32768 + 1)?.message ?? '', /shards x replicas x endpoints/);
  // 1048576 x 255 x 300: every field in range, the product far out of it (612 s before).
  assert.equal(workBudgetViolation(1_048_576, 255, 300)?.field, 'shards');
});

test('computeShardMap and nextShardMap refuse an over-budget topology before any work', () => {
  const policy: ShardingPolicy = { shardCount: 1_048_576, replicas: 255, spread: 'none' };
  const t0 = Date.now();
  assert.throws(() => computeShardMap(eps(300), policy), budget('shards'));
  assert.throws(() => nextShardMap(undefined, eps(300), policy), budget('shards'));
  assert.ok(Date.now() - t0 < 1000);
  const tooMany = Array.from({ length: MAX_ENDPOINTS + 1 }, (_, i) => ep(i));
  assert.throws(() => planShardMap(undefined, tooMany, { shardCount: 16, replicas: 1, spread: 'none' }), budget('endpoints'));
});

test('an endpoint added to a map at the budget is refused, not applied incrementally', () => {
  const policy: ShardingPolicy = { shardCount: 16384, replicas: 2, spread: 'none' };
  const n = MAX_SHARD_WORK / (16384 * 2); // the endpoints that fill the budget at this S x R
  const full = Array.from({ length: n }, (_, i) => ep(i, { ready: false })); // none eligible: cheap to compute
  const map = computeShardMap(full, policy);
  assert.throws(() => planShardMap(map, [...full, ep(n)], policy), budget('shards'));
  const small: ShardingPolicy = { shardCount: 8, replicas: 1, spread: 'none' };
  const most = Array.from({ length: MAX_ENDPOINTS }, (_, i) => ep(i, { ready: false }));
  assert.throws(() => planShardMap(computeShardMap(most, small), [...most, ep(MAX_ENDPOINTS)], small), budget('endpoints'));
});

const cases: [string, ShardingPolicy, Endpoint[]][] = [
  ['spread none', { shardCount: 257, replicas: 3, spread: 'none' }, eps(40)],
  ['spread zone', { shardCount: 128, replicas: 3, spread: 'zone' }, eps(25)],
  ['spread subzone, fewer endpoints than R', { shardCount: 64, replicas: 5, spread: 'subzone' }, eps(4)],
  ['no eligible endpoint', { shardCount: 32, replicas: 2, spread: 'none' }, eps(3).map((e) => ({ ...e, ready: false }))],
  ['no endpoints', { shardCount: 16, replicas: 2, spread: 'none' }, []],
];

for (const [name, policy, endpoints] of cases) {
  test(`owner slots give the map computeShardMap gives (${name}), incremental updates included`, () => {
    const inline = computeShardMap(endpoints, policy);
    const { sorted, policy: p } = prepareShardMapInput([...endpoints].reverse(), policy);
    // Through structured clone, as a worker thread sends them.
    const slots = structuredClone(computeOwnerSlots(sorted, p));
    const split = shardMapFromSlots(sorted, p, slots);
    assert.deepEqual(split, inline);
    const added = ep(900);
    const viaSplit = applyEndpointChange(split, { kind: 'upsert', endpoint: added });
    assert.deepEqual(viaSplit, computeShardMap([...endpoints, added], policy));
    if (endpoints.length > 0) {
      const gone = endpoints[0]!.id;
      assert.deepEqual(applyEndpointChange(split, { kind: 'remove', id: gone }), computeShardMap(endpoints.slice(1), policy));
    }
  });
}

test('slots that do not fit the policy are refused', () => {
  const { sorted, policy } = prepareShardMapInput(eps(5), { shardCount: 8, replicas: 2, spread: 'none' });
  const slots = computeOwnerSlots(sorted, policy);
  assert.throws(() => shardMapFromSlots(sorted, { ...policy, shardCount: 9 }, slots), /do not fit/);
});
