// Incremental == full (docs/hashing.md "Incremental equals full") on topologies large enough for the
// bounded fast path of owner selection (more than R + 7 eligible endpoints: only the R + 6 best
// bounds are scored), which the small topologies of properties.test.ts seldom reach. The shards an
// endpoint owned are recomputed through that path, and each step's bookkeeping (scores, passes)
// feeds the next, so a slip there shows only after a few steps. Lineages start from an inline map
// or from the worker's owner slots (owner-slots.ts), as `keyway serve` computes big maps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import {
  applyEndpointChange,
  computeOwnerSlots,
  computeShardMap,
  type EndpointChange,
  prepareShardMapInput,
  shardMapFromSlots,
  type ShardMap,
} from '../../src/sharding/index.js';
import { crowdedLocalityArb, endpointArb, localityArb, PROPERTY_SEED, weightArb } from './arbitraries.js';

const runs = (numRuns: number) => ({ numRuns, seed: PROPERTY_SEED });

const idArb = fc.nat({ max: 80 }).map((i) => `node-${i}`);

/** A change drawn against the current list; `at` is taken modulo its length. */
type Op =
  | { op: 'add'; endpoint: Endpoint }
  | { op: 'remove'; at: number }
  | { op: 'reweight'; at: number; weight: number }
  | { op: 'ready'; at: number }
  | { op: 'move'; at: number; locality: Endpoint['locality'] };

const opArb = (locality: typeof localityArb): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 3, arbitrary: endpointArb(idArb, locality).map((endpoint) => ({ op: 'add' as const, endpoint })) },
    { weight: 3, arbitrary: fc.nat().map((at) => ({ op: 'remove' as const, at })) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('reweight' as const), at: fc.nat(), weight: weightArb }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('ready' as const), at: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('move' as const), at: fc.nat(), locality }) },
  );

function toChange(op: Op, list: readonly Endpoint[]): EndpointChange | undefined {
  if (op.op === 'add') return { kind: 'upsert', endpoint: op.endpoint };
  const e = list[op.at % Math.max(list.length, 1)];
  if (e === undefined) return undefined;
  if (op.op === 'remove') return { kind: 'remove', id: e.id };
  if (op.op === 'reweight') return { kind: 'upsert', endpoint: { ...e, weight: op.weight } };
  if (op.op === 'ready') return { kind: 'upsert', endpoint: { ...e, ready: !e.ready } };
  return { kind: 'upsert', endpoint: { ...e, locality: op.locality } };
}

function startMap(list: readonly Endpoint[], policy: ShardingPolicy, fromSlots: boolean): ShardMap {
  if (!fromSlots) return computeShardMap(list, policy);
  const input = prepareShardMapInput(list, policy);
  // structuredClone stands for the worker's copy of its input.
  return shardMapFromSlots(input.sorted, input.policy, computeOwnerSlots(structuredClone(input.sorted), input.policy));
}

function assertLineage(start: Endpoint[], policy: ShardingPolicy, fromSlots: boolean, ops: Op[]): void {
  let list: Endpoint[] = start;
  let map = startMap(list, policy, fromSlots);
  assert.deepEqual(map, computeShardMap(list, policy), 'start');
  for (const op of ops) {
    const change = toChange(op, list);
    if (!change) continue;
    map = applyEndpointChange(map, change);
    const id = change.kind === 'remove' ? change.id : change.endpoint.id;
    list = [...list.filter((e) => e.id !== id), ...(change.kind === 'upsert' ? [change.endpoint] : [])];
    assert.deepEqual(map, computeShardMap(list, policy), `after ${JSON.stringify(change)}`);
  }
}

const largePolicyArb = fc.record({
  shardCount: fc.integer({ min: 1, max: 48 }),
  replicas: fc.integer({ min: 1, max: 5 }),
  spread: fc.constantFrom('none' as const, 'zone' as const, 'subzone' as const),
});

const topologyArb = (locality: typeof localityArb) =>
  fc.uniqueArray(endpointArb(idArb, locality), { selector: (e) => e.id, minLength: 14, maxLength: 40 });

test('incremental equals full where owner selection takes its bounded fast path, from inline and worker maps', () => {
  fc.assert(
    fc.property(topologyArb(localityArb), largePolicyArb, fc.boolean(), fc.array(opArb(localityArb), { minLength: 1, maxLength: 30 }), assertLineage),
    runs(60),
  );
});

test('incremental equals full on large crowded topologies (the fast path falls back when pass 1 cannot fill)', () => {
  fc.assert(
    fc.property(
      topologyArb(crowdedLocalityArb),
      largePolicyArb,
      fc.boolean(),
      fc.array(opArb(crowdedLocalityArb), { minLength: 1, maxLength: 30 }),
      assertLineage,
    ),
    runs(60),
  );
});
