// Property tests of the shard map (docs/hashing.md "Properties, and why they hold"): movement on add and remove, input-order
// independence, incremental == full for random change sequences, and the spread policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { applyEndpointChange, computeShardMap, diffShardMaps, type EndpointChange, type ShardMap } from '../../src/sharding/index.js';
import {
  crowdedLocalityArb,
  eligibleEndpointArb,
  endpointArb,
  endpointsArb,
  idArb,
  localityArb,
  policyArb,
  PROPERTY_SEED,
  readyArb,
  weightArb,
} from './arbitraries.js';

const runs = (numRuns: number) => ({ numRuns, seed: PROPERTY_SEED });
const eligible = (es: readonly Endpoint[]) => es.filter((e) => e.ready && e.weight > 0);

/** A topology plus one more eligible endpoint whose id is not in it. */
const topologyPlusOne = fc
  .tuple(endpointsArb(10), eligibleEndpointArb(fc.nat({ max: 1000 }).map((i) => `new-${i}`)), policyArb(48))
  .map(([endpoints, extra, policy]) => ({ endpoints, extra, policy }));

/**
 * Adding X to a topology: (1) a shard's owner list changes only if X becomes an owner; (2) the other
 * new owners were all owners before (X displaces at most one, nobody else enters); (3) the primary
 * changes only to X. With spread=none additionally (4) the old order is kept: the new list is the
 * old one with X inserted and, if it was full, the last owner dropped. Under a spread policy the
 * order of the remaining owners may change (one can move from a distinct-fabric pass to a later
 * pass), so (4) is not claimed there. Removal is the same statement read backwards.
 */
function assertOnlyXMoves(without: ShardMap, withX: ShardMap, x: string, spread: ShardingPolicy['spread']): void {
  for (let s = 0; s < without.owners.length; s++) {
    const before = without.owners[s]!;
    const after = withX.owners[s]!;
    if (!after.includes(x)) {
      assert.deepEqual(after, before, `shard ${s} changed without ${x}`);
      continue;
    }
    for (const id of after) if (id !== x) assert.ok(before.includes(id), `shard ${s}: ${id} entered with ${x}`);
    if (after[0] !== before[0]) assert.equal(after[0], x, `shard ${s}: primary moved to someone else`);
    if (spread === 'none') {
      const kept = after.filter((id) => id !== x);
      assert.deepEqual(kept, before.slice(0, kept.length), `shard ${s}: order of the others changed`);
    }
  }
}

test('adding an endpoint moves shards only to it; removing one moves only shards it owned', () => {
  fc.assert(
    fc.property(topologyPlusOne, ({ endpoints, extra, policy }) => {
      const without = computeShardMap(endpoints, policy);
      const withX = computeShardMap([...endpoints, extra], policy);
      assertOnlyXMoves(without, withX, extra.id, policy.spread);
      // The same pair read as a removal: every moved shard had X as an owner.
      for (const move of diffShardMaps(withX, without).moves) assert.ok(move.from.includes(extra.id));
    }),
    runs(300),
  );
});

test('with spread=none the number of shards an added endpoint takes matches its weight share', () => {
  // A sanity anchor for the property above: the new endpoint does take shards (here about 1/5).
  const endpoints: Endpoint[] = Array.from({ length: 4 }, (_, i) => ({
    id: `gpu-${i}`,
    address: '10.0.0.1',
    port: 7000,
    locality: { region: 'r', zone: 'z', subzone: 'f' },
    weight: 10,
    ready: true,
  }));
  const policy: ShardingPolicy = { shardCount: 4096, replicas: 1, spread: 'none' };
  const before = computeShardMap(endpoints, policy);
  const after = computeShardMap([...endpoints, { ...endpoints[0]!, id: 'gpu-new' }], policy);
  const moved = diffShardMaps(before, after).moves;
  assert.ok(moved.every((m) => m.to[0] === 'gpu-new'));
  assert.ok(Math.abs(moved.length - 4096 / 5) < 5 * Math.sqrt(4096 * 0.2 * 0.8), `${moved.length} moved`);
});

test('input order does not matter: same owners, warnings and version', () => {
  fc.assert(
    fc.property(
      endpointsArb(12).chain((es) => fc.tuple(fc.constant(es), fc.shuffledSubarray(es, { minLength: es.length }))),
      policyArb(48),
      ([endpoints, shuffled], policy) => {
        const a = computeShardMap(endpoints, policy);
        const b = computeShardMap(shuffled, policy);
        assert.deepEqual(b, a);
        assert.equal(b.version, a.version);
      },
    ),
    runs(200),
  );
});

test('the version changes with any field of any endpoint and with the policy', () => {
  fc.assert(
    fc.property(endpointsArb(6).filter((es) => es.length > 0), policyArb(16), (endpoints, policy) => {
      const base = computeShardMap(endpoints, policy).version;
      const e = endpoints[0]!;
      const variants: Endpoint[] = [
        { ...e, address: `${e.address}9` },
        { ...e, port: e.port === 1 ? 2 : 1 },
        { ...e, weight: e.weight + 1 },
        { ...e, ready: !e.ready },
        { ...e, locality: { ...e.locality, subzone: `${e.locality.subzone}x` } },
      ];
      for (const v of variants) assert.notEqual(computeShardMap([v, ...endpoints.slice(1)], policy).version, base);
      assert.notEqual(computeShardMap(endpoints, { ...policy, shardCount: policy.shardCount + 1 }).version, base);
    }),
    runs(50),
  );
});

/** A change drawn against the current endpoint list (indexes are taken modulo its length). */
type Op =
  | { op: 'add'; endpoint: Endpoint }
  | { op: 'remove'; at: number }
  | { op: 'removeUnknown' }
  | { op: 'reweight'; at: number; weight: number }
  | { op: 'ready'; at: number; ready: boolean }
  | { op: 'move'; at: number; locality: Endpoint['locality'] }
  | { op: 'address'; at: number; address: string }
  | { op: 'same'; at: number };

const opArb = (locality = localityArb): fc.Arbitrary<Op> => fc.oneof(
  { weight: 4, arbitrary: endpointArb(idArb, locality).map((endpoint) => ({ op: 'add' as const, endpoint })) },
  { weight: 3, arbitrary: fc.nat().map((at) => ({ op: 'remove' as const, at })) },
  { weight: 1, arbitrary: fc.constant({ op: 'removeUnknown' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('reweight' as const), at: fc.nat(), weight: weightArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ready' as const), at: fc.nat(), ready: readyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('move' as const), at: fc.nat(), locality }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('address' as const), at: fc.nat(), address: fc.ipV4() }) },
  { weight: 1, arbitrary: fc.nat().map((at) => ({ op: 'same' as const, at })) },
);

function toChange(op: Op, current: readonly Endpoint[]): EndpointChange | undefined {
  if (op.op === 'add') return { kind: 'upsert', endpoint: op.endpoint };
  if (op.op === 'removeUnknown') return { kind: 'remove', id: 'never-seen' };
  if (current.length === 0) return undefined;
  const e = current[op.at % current.length]!;
  switch (op.op) {
    case 'remove':
      return { kind: 'remove', id: e.id };
    case 'reweight':
      return { kind: 'upsert', endpoint: { ...e, weight: op.weight } };
    case 'ready':
      return { kind: 'upsert', endpoint: { ...e, ready: op.ready } };
    case 'move':
      return { kind: 'upsert', endpoint: { ...e, locality: op.locality } };
    case 'address':
      return { kind: 'upsert', endpoint: { ...e, address: op.address } };
    case 'same':
      return { kind: 'upsert', endpoint: { ...e } };
  }
}

function applyToList(list: readonly Endpoint[], change: EndpointChange): Endpoint[] {
  const id = change.kind === 'remove' ? change.id : change.endpoint.id;
  const rest = list.filter((e) => e.id !== id);
  return change.kind === 'upsert' ? [...rest, change.endpoint] : rest;
}

function assertIncrementalEqualsFull(start: Endpoint[], policy: ShardingPolicy, ops: Op[]): void {
  let list: Endpoint[] = start;
  let map = computeShardMap(list, policy);
  for (const op of ops) {
    const change = toChange(op, list);
    if (!change) continue;
    const next = applyEndpointChange(map, change);
    list = applyToList(list, change);
    const full = computeShardMap(list, policy);
    assert.deepEqual(next, full, `after ${JSON.stringify(change)}`);
    if (op.op === 'same' || op.op === 'removeUnknown') assert.equal(next, map, 'a no-op returns the same map');
    map = next;
  }
}

test('incremental updates equal a full recompute for random change sequences, every policy', () => {
  fc.assert(
    fc.property(endpointsArb(8), policyArb(40), fc.array(opArb(), { minLength: 1, maxLength: 25 }), assertIncrementalEqualsFull),
    runs(200),
  );
});

test('incremental equals full on crowded topologies (fewer zones and fabrics than R)', () => {
  fc.assert(
    fc.property(
      endpointsArb(8, crowdedLocalityArb),
      policyArb(32, 5),
      fc.array(opArb(crowdedLocalityArb), { minLength: 1, maxLength: 25 }),
      assertIncrementalEqualsFull,
    ),
    runs(200),
  );
});

test('incremental on a map without bookkeeping (e.g. parsed from JSON) still equals full', () => {
  fc.assert(
    fc.property(endpointsArb(8), policyArb(16), eligibleEndpointArb(), (endpoints, policy, extra) => {
      const plain = structuredClone(computeShardMap(endpoints, policy));
      const change: EndpointChange = { kind: 'upsert', endpoint: extra };
      assert.deepEqual(applyEndpointChange(plain, change), computeShardMap(applyToList(endpoints, change), policy));
    }),
    runs(50),
  );
});

test('the spread policy holds whenever it can', () => {
  fc.assert(
    fc.property(endpointsArb(12), policyArb(40), (endpoints, policy) => {
      const map = computeShardMap(endpoints, policy);
      const el = eligible(endpoints);
      const byId = new Map(el.map((e) => [e.id, e]));
      const zoneOf = (id: string) => JSON.stringify([byId.get(id)!.locality.region, byId.get(id)!.locality.zone]);
      const fabricOf = (id: string) => {
        const l = byId.get(id)!.locality;
        return JSON.stringify([l.region, l.zone, l.subzone]);
      };
      const zones = new Set(el.map((e) => zoneOf(e.id))).size;
      const fabrics = new Set(el.map((e) => fabricOf(e.id))).size;
      const R = policy.replicas;
      for (const owners of map.owners) {
        assert.equal(owners.length, Math.min(R, el.length));
        assert.equal(new Set(owners).size, owners.length, 'an endpoint owns a shard once');
        if (policy.spread === 'subzone') {
          assert.equal(new Set(owners.map(fabricOf)).size, Math.min(R, fabrics), 'owners in distinct fabrics');
        }
        if (policy.spread === 'zone') {
          assert.equal(new Set(owners.map(zoneOf)).size, Math.min(R, zones), 'owners in distinct zones');
          assert.equal(new Set(owners.map(fabricOf)).size, Math.min(R, fabrics), 'then in distinct fabrics');
        }
      }
    }),
    runs(300),
  );
});
