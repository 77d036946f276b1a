// computeShardMap's contract beyond the hash: typed errors, ineligible endpoints, warnings, and the
// read-side helpers (ownersOf, endpointShares, diffShardMaps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { KeywayError } from '../../src/core/errors.js';
import {
  applyEndpointChange,
  computeShardMap,
  diffShardMaps,
  endpointShares,
  ownersOf,
} from '../../src/sharding/index.js';

const ep = (id: string, over: Partial<Endpoint> = {}): Endpoint => ({
  id,
  address: '10.0.0.1',
  port: 7000,
  locality: { region: 'us-east', zone: 'us-east-1a', subzone: 'nvl-1' },
  weight: 10,
  ready: true,
  ...over,
});
const policy = (over: Partial<ShardingPolicy> = {}): ShardingPolicy => ({ shardCount: 64, replicas: 2, spread: 'none', ...over });
const code = (c: string, field?: string) => (e: unknown) =>
  e instanceof KeywayError && e.code === c && (field === undefined || e.location.field === field);

test('two endpoints with one id are a DUPLICATE_ENDPOINT error naming the second', () => {
  assert.throws(() => computeShardMap([ep('a'), ep('b'), ep('a', { weight: 3 })], policy()), code('DUPLICATE_ENDPOINT', 'endpoints[2].id'));
});

test('bad arguments are BAD_ARGUMENT errors naming the field', () => {
  assert.throws(() => computeShardMap([ep('a')], policy({ shardCount: 0 })), code('BAD_ARGUMENT', 'shards'));
  assert.throws(() => computeShardMap([ep('a')], policy({ shardCount: 2.5 })), code('BAD_ARGUMENT', 'shards'));
  assert.throws(() => computeShardMap([ep('a')], policy({ replicas: 0 })), code('BAD_ARGUMENT', 'replicas'));
  assert.throws(() => computeShardMap([ep('a')], policy({ spread: 'rack' as never })), code('BAD_ARGUMENT', 'spread'));
  assert.throws(() => computeShardMap([ep('a'), ep('b', { weight: -1 })], policy()), code('BAD_ARGUMENT', 'endpoints[1].weight'));
  assert.throws(() => computeShardMap([ep('a', { weight: Number.POSITIVE_INFINITY })], policy()), code('BAD_ARGUMENT', 'endpoints[0].weight'));
  assert.throws(() => computeShardMap([ep('a', { weight: Number.NaN })], policy()), code('BAD_ARGUMENT', 'endpoints[0].weight'));
  // Finite but past what the rendezvous score can rank (docs/configuration.md, `weight`).
  assert.throws(() => computeShardMap([ep('a', { weight: 1.7e308 })], policy()), code('BAD_ARGUMENT', 'endpoints[0].weight'));
  assert.throws(() => computeShardMap([ep('a', { weight: 1e-300 })], policy()), code('BAD_ARGUMENT', 'endpoints[0].weight'));
  assert.throws(() => computeShardMap([ep('has space')], policy()), code('BAD_ARGUMENT', 'endpoints[0].id'));
  // Library callers: wrong types are BAD_ARGUMENT naming the field, not a TypeError or a map with a port proxies cannot read.
  assert.throws(() => computeShardMap([ep('a'), null as never], policy()), code('BAD_ARGUMENT', 'endpoints[1]'));
  assert.throws(() => computeShardMap([ep('a', { port: '7000' as never })], policy()), code('BAD_ARGUMENT', 'endpoints[0].port'));
  assert.throws(() => computeShardMap([ep('a', { port: 0 })], policy()), code('BAD_ARGUMENT', 'endpoints[0].port'));
  assert.throws(() => computeShardMap([ep('a', { address: '' })], policy()), code('BAD_ARGUMENT', 'endpoints[0].address'));
  assert.throws(() => computeShardMap([ep('a', { draining: 'yes' as never })], policy()), code('BAD_ARGUMENT', 'endpoints[0].draining'));
  const map = computeShardMap([ep('a')], policy());
  assert.throws(() => applyEndpointChange(map, { kind: 'upsert', endpoint: ep('b', { weight: -2 }) }), code('BAD_ARGUMENT', 'endpoint.weight'));
});

test('not-ready and weight-0 endpoints own nothing but stay in the map', () => {
  const map = computeShardMap([ep('c'), ep('a', { ready: false }), ep('b', { weight: 0 }), ep('d')], policy());
  assert.deepEqual(
    map.endpoints.map((e) => e.id),
    ['a', 'b', 'c', 'd'],
  );
  for (const owners of map.owners) assert.deepEqual([...owners].sort(), ['c', 'd']);
  const shares = endpointShares(map);
  assert.deepEqual(shares.get('a'), { owned: 0, primary: 0 });
  assert.deepEqual(shares.get('b'), { owned: 0, primary: 0 });
  assert.equal(shares.get('c')!.owned + shares.get('d')!.owned, 128);
  assert.equal(shares.get('c')!.primary + shares.get('d')!.primary, 64);
  assert.deepEqual(map.warnings, []);
});

test('fewer eligible endpoints than R: each shard gets what exists, with a warning', () => {
  const map = computeShardMap([ep('a'), ep('b'), ep('c', { ready: false })], policy({ replicas: 3 }));
  for (const owners of map.owners) assert.equal(owners.length, 2);
  assert.equal(map.warnings.length, 1);
  assert.match(map.warnings[0]!, /only 2 eligible endpoints for 3 replicas/);
});

test('zero eligible endpoints: every shard has no owners, with a warning', () => {
  for (const endpoints of [[], [ep('a', { ready: false }), ep('b', { weight: 0 })]]) {
    const map = computeShardMap(endpoints, policy());
    assert.equal(map.owners.length, 64);
    for (const owners of map.owners) assert.deepEqual(owners, []);
    assert.equal(map.warnings.length, 1);
    assert.match(map.warnings[0]!, /no eligible endpoints/);
  }
});

test('a spread that cannot hold is reported', () => {
  const map = computeShardMap([ep('a'), ep('b'), ep('c', { locality: { region: 'us-east', zone: 'us-east-1a', subzone: 'nvl-2' } })], policy({ replicas: 3, spread: 'subzone' }));
  assert.deepEqual(map.warnings.length, 1);
  assert.match(map.warnings[0]!, /only 2 fabrics/);
});

test('the map holds its own frozen copies: mutating an input later changes nothing', () => {
  const input = [ep('a'), ep('b')] as { -readonly [K in keyof Endpoint]: Endpoint[K] }[];
  const map = computeShardMap(input, policy());
  const before = JSON.stringify(map);
  input[0]!.weight = 1000;
  assert.equal(JSON.stringify(map), before);
  assert.ok(Object.isFrozen(map.endpoints[0]));
  const extra = { ...ep('z'), note: 'not an Endpoint field' } as Endpoint;
  assert.deepEqual(Object.keys(computeShardMap([extra], policy()).endpoints[0]!).sort(), [
    'address',
    'id',
    'locality',
    'port',
    'ready',
    'weight',
  ]);
});

test('ownersOf returns a shard owners and rejects shards that do not exist', () => {
  const map = computeShardMap([ep('a'), ep('b'), ep('c')], policy());
  assert.deepEqual(ownersOf(map, 5), map.owners[5]);
  assert.throws(() => ownersOf(map, 64), code('NOT_FOUND', 'shard'));
  assert.throws(() => ownersOf(map, -1), code('NOT_FOUND', 'shard'));
  assert.throws(() => ownersOf(map, 1.5), code('BAD_ARGUMENT', 'shard'));
});

test('diffShardMaps lists exactly the shards whose owner lists differ, with from and to', () => {
  const a = computeShardMap([ep('a'), ep('b'), ep('c')], policy());
  const b = applyEndpointChange(a, { kind: 'remove', id: 'b' });
  const diff = diffShardMaps(a, b);
  assert.equal(diff.fromVersion, a.version);
  assert.equal(diff.toVersion, b.version);
  const expected = a.owners.flatMap((owners, shard) =>
    owners.includes('b') ? [{ shard, from: owners, to: b.owners[shard] }] : [],
  );
  assert.ok(expected.length > 0);
  assert.deepEqual(diff.moves, expected);
  assert.deepEqual(diffShardMaps(a, a).moves, []);
  // A primary/replica swap is a move even though the owner set is unchanged.
  const swapped = { ...a, owners: a.owners.map((o, s) => (s === 3 ? [...o].reverse() : o)) };
  assert.deepEqual(
    diffShardMaps(a, swapped).moves.map((m) => m.shard),
    [3],
  );
  // Different shard counts: shards that exist on one side only move from or to nothing.
  const bigger = computeShardMap([ep('a'), ep('b'), ep('c')], policy({ shardCount: 66 }));
  const tail = diffShardMaps(a, bigger).moves.filter((m) => m.shard >= 64);
  assert.deepEqual(
    tail.map((m) => [m.shard, m.from.length]),
    [
      [64, 0],
      [65, 0],
    ],
  );
});
