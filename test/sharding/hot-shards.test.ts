// The hot-shard policy (docs/hot-shards.md): properties (deterministic, order-independent, churn
// budget per step, plain rendezvous without load) and the load model at Zipf 1.0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_HOT_SHARD_SETTINGS, type HotShardSettings, type LoadSnapshot } from '../../src/core/load.js';
import { computeShardMap, shardReaders, type ShardMap } from '../../src/sharding/index.js';
import { applyHotShards, decideHotShards, hotShardChanges, modelledLoadRatios, NO_HOT_SHARDS } from '../../src/sharding/hot-shards.js';
import { eligibleEndpointArb, endpointArb, idArb, PROPERTY_SEED } from './arbitraries.js';
import { cacheNodes, snapshotOf, zipfShardLoads } from './hot-shards-fixtures.js';

const runs = { seed: PROPERTY_SEED, numRuns: 60 };

const topologyArb = fc
  .tuple(
    fc.uniqueArray(eligibleEndpointArb(idArb), { selector: (e) => e.id, minLength: 1, maxLength: 8 }),
    fc.uniqueArray(endpointArb(idArb), { selector: (e) => e.id, maxLength: 3 }),
  )
  .map(([a, b]) => {
    const ids = new Set(a.map((e) => e.id));
    return [...a, ...b.filter((e) => !ids.has(e.id))];
  });

const settingsArb: fc.Arbitrary<HotShardSettings> = fc.record({
  enabled: fc.constant(true),
  windowMs: fc.constant(10_000),
  epsilon: fc.constantFrom(0, 0.05, 0.1, 0.25),
  spreadThreshold: fc.constantFrom(0.1, 0.25, 0.5, 1),
  maxReaders: fc.integer({ min: 1, max: 5 }),
  maxMovesPerWindow: fc.integer({ min: 0, max: 6 }),
  historyWindows: fc.integer({ min: 1, max: 6 }),
  replayWindows: fc.constantFrom(0, 1, 2, 3, 24),
  margin: fc.constantFrom(0, 0.05, 0.1),
  minWindowRequests: fc.constantFrom(0, 100, 1000),
  snapshot: fc.constant({ source: 'local' as const }),
});

/** Snapshots of consecutive windows with a few hot shards on top of noise (shards may repeat or lie outside [0, S)). */
const snapshotsArb = (S: number): fc.Arbitrary<LoadSnapshot[]> =>
  fc.array(
    fc.record({
      shards: fc.array(fc.record({ shard: fc.integer({ min: 0, max: S + 2 }), requests: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 100, max: 5000 })) }), { maxLength: 24 }),
      nodes: fc.array(fc.record({ nodeId: idArb, requests: fc.integer({ min: 0, max: 20_000 }) }), { maxLength: 4 }),
    }),
    { maxLength: 7 },
  ).map((list) => list.map((s, i) => ({ windowStartMs: 1_700_000_000_000 + i * 10_000, windowMs: 10_000, ...s })));

const caseArb = fc
  .tuple(topologyArb, fc.integer({ min: 8, max: 96 }), fc.integer({ min: 1, max: 3 }), settingsArb)
  .chain(([endpoints, S, R, settings]) => fc.tuple(fc.constant(endpoints), fc.constant(S), fc.constant(R), fc.constant(settings), snapshotsArb(S)));

function shuffled<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let a = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    a = (Math.imul(a ^ (a >>> 15), 2654435761) + 0x6d2b79f5) >>> 0;
    const j = a % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Shards whose owners or readers differ between two maps of one S. */
function changedShards(a: ShardMap, b: ShardMap): number {
  let n = 0;
  for (let s = 0; s < a.owners.length; s++) {
    const x = a.owners[s]!;
    const y = b.owners[s]!;
    if (x.length !== y.length || x.some((id, i) => id !== y[i]) || shardReaders(a, s) !== shardReaders(b, s)) n++;
  }
  return n;
}

const policy = (S: number, R: number) => ({ shardCount: S, replicas: R, spread: 'none' as const });

test('the decision and the map version do not depend on the order of endpoints, snapshots or their entries', () => {
  fc.assert(
    fc.property(caseArb, fc.integer(), ([endpoints, S, R, settings, snapshots], seed) => {
      const map = computeShardMap(endpoints, policy(S, R));
      const decision = decideHotShards(map, snapshots, settings);
      const otherMap = computeShardMap(shuffled(endpoints, seed), policy(S, R));
      const otherSnaps = shuffled(snapshots, seed + 1).map((s, i) => ({
        ...s,
        shards: shuffled(s.shards, seed + 2 + i),
        nodes: shuffled(s.nodes, seed + 3 + i),
      }));
      const other = decideHotShards(otherMap, otherSnaps, settings);
      assert.deepEqual(other, decision);
      assert.equal(applyHotShards(otherMap, other).version, applyHotShards(map, decision).version);
      // And again from scratch: nothing is remembered between calls.
      assert.deepEqual(decideHotShards(map, snapshots, settings), decision);
    }),
    runs,
  );
});

test('fractional rates repeated within a window (a shard or node listed twice) give identical decisions in any entry order', () => {
  // Floating-point addition is not associative: repeats must be added up in one order on every replica.
  const rate = fc.double({ min: 0.001, max: 1000, noNaN: true, noDefaultInfinity: true });
  const windowArb = fc.record({
    shards: fc.array(fc.record({ shard: fc.integer({ min: 0, max: 5 }), requests: rate }), { maxLength: 12 }),
    nodes: fc.array(fc.record({ nodeId: fc.constantFrom('cache-0', 'cache-1', 'gone'), requests: rate }), { maxLength: 6 }),
  });
  const map = computeShardMap(cacheNodes(4, [1, 2, 3, 5]), policy(32, 2));
  fc.assert(
    fc.property(fc.array(windowArb, { minLength: 1, maxLength: 4 }), fc.constantFrom(0, 3), fc.integer(), (list, replayWindows, seed) => {
      const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, minWindowRequests: 0, replayWindows };
      const snapshots = list.map((s, i) => ({ windowStartMs: 1_700_000_000_000 + i * 10_000, windowMs: 10_000, ...s }));
      const other = snapshots.map((s, i) => ({ ...s, shards: shuffled(s.shards, seed + i), nodes: shuffled(s.nodes, seed - i) }));
      const decision = decideHotShards(map, snapshots, settings);
      assert.deepEqual(decideHotShards(map, other, settings), decision);
    }),
    { seed: PROPERTY_SEED, numRuns: 300 },
  );
});

test('each step of the fold moves at most maxMovesPerWindow shards, and readers stay within maxReaders', () => {
  fc.assert(
    fc.property(caseArb, ([endpoints, S, R, settings, snapshots]) => {
      const map = computeShardMap(endpoints, policy(S, R));
      const serving = new Set(endpoints.filter((e) => e.ready && e.weight > 0).map((e) => e.id));
      let before = map;
      for (let steps = 1; steps <= settings.historyWindows; steps++) {
        const decision = decideHotShards(map, snapshots, settings, steps);
        assert.ok(decision.moves <= settings.maxMovesPerWindow, `decision says ${decision.moves} moves`);
        assert.ok((decision.totalMoves ?? 0) <= steps * settings.maxMovesPerWindow, `${decision.totalMoves} moves in ${steps} steps`);
        const after = applyHotShards(map, decision);
        const changed = changedShards(before, after);
        assert.ok(changed <= settings.maxMovesPerWindow, `step ${steps} changed ${changed} shards, budget ${settings.maxMovesPerWindow}`);
        for (const h of decision.shards) {
          assert.ok(h.readers >= 1 && h.readers <= Math.max(1, settings.maxReaders), `shard ${h.shard} has ${h.readers} readers`);
          assert.ok(h.readers <= h.owners.length);
          assert.equal(new Set(h.owners).size, h.owners.length, 'owners repeat');
          assert.ok(h.explanation.length > 0);
          // Only what differs from plain rendezvous is listed: a shard read by its primary alone is
          // listed for a moved primary, never on its rendezvous primary (a move back is plain again).
          if (h.readers === 1) assert.notEqual(h.owners[0], map.owners[h.shard]![0], `shard ${h.shard} listed on its rendezvous primary: ${h.explanation}`);
          assert.equal(h.reason, h.readers > 1 ? 'spread' : 'bounded-load', `shard ${h.shard}: ${h.reason} with ${h.readers} readers`);
          for (const id of h.owners) assert.ok(serving.has(id), `shard ${h.shard} owned by ${id}, which is not ready or has weight 0`);
        }
        before = after;
      }
    }),
    runs,
  );
});

test('without load the map is plain rendezvous ownership, same version', () => {
  fc.assert(
    fc.property(caseArb, ([endpoints, S, R, settings, snapshots]) => {
      const map = computeShardMap(endpoints, policy(S, R));
      // Reports stopped long enough: the source has no snapshot.
      assert.equal(decideHotShards(map, [], settings), NO_HOT_SHARDS);
      assert.equal(applyHotShards(map, NO_HOT_SHARDS), map);
      // Turned off: plain whatever the load.
      assert.equal(applyHotShards(map, decideHotShards(map, snapshots, { ...settings, enabled: false })).version, map.version);
      // Windows without requests after hot ones: once they fill the history, plain again.
      const quiet = Array.from({ length: settings.historyWindows }, (_, i) => ({
        windowStartMs: 1_800_000_000_000 + i * 10_000,
        windowMs: 10_000,
        shards: [],
        nodes: [],
      }));
      const decision = decideHotShards(map, [...snapshots, ...quiet], settings);
      assert.deepEqual(decision.shards, []);
      assert.equal(applyHotShards(map, decision).version, map.version);
    }),
    runs,
  );
});

test('shards that cool are given back to plain rendezvous within the churn budget', () => {
  const map = computeShardMap(cacheNodes(8, [1, 1, 2, 2, 4, 4, 8, 8]), policy(1024, 2));
  const hot = zipfShardLoads(100_000, 1.0, 1024, 10_000);
  // A tight bound, so the hot load changes more shards than one window's budget.
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, epsilon: 0.05, historyWindows: 10, maxMovesPerWindow: 4 };
  const warm = Array.from({ length: 6 }, (_, i) => snapshotOf(hot, i));
  const changedBy = decideHotShards(map, warm, settings).shards.length;
  assert.ok(changedBy > 4, `the hot load changes ${changedBy} shards`);
  // Uniform load afterwards: every shard equally busy, nothing hot, nobody overloaded by much.
  const flat = new Map(Array.from({ length: 1024 }, (_, s) => [s, 10] as const));
  const after = (n: number) => decideHotShards(map, [...warm, ...Array.from({ length: n }, (_, i) => snapshotOf(flat, 6 + i))], settings);
  // The policy judges the mean over the history: shards come back as flat windows replace hot ones,
  // each window's decision one step (at most 4 changes) from the previous one. (The flat load has
  // imbalances of its own, which the same steps may answer with moves of other shards.)
  let before = decideHotShards(map, warm, settings);
  let previous = changedBy;
  for (let n = 1; n <= settings.historyWindows; n++) {
    const d = after(n);
    assert.ok(d.moves <= 4, `cool window ${n}: ${d.moves} moves`);
    assert.ok(hotShardChanges(before, d) <= 4, `cool window ${n}: ${hotShardChanges(before, d)} shards changed`);
    before = d;
    previous = d.shards.length;
  }
  assert.ok(previous < changedBy, `a history of flat windows gives shards back (${previous} of ${changedBy} left)`);
  // What stays changed is what the flat load itself calls for (a node above its bound under plain rendezvous).
  const settled = after(10);
  assert.ok(settled.shards.every((h) => h.reason === 'bounded-load'), 'nothing stays spread under a flat load');
  assert.ok((settled.maxLoadRatio ?? 0) <= (settled.plainMaxLoadRatio ?? 0));
});

for (const weights of [[1], [1, 1, 2, 2, 4, 4, 8, 8]]) {
  test(`at Zipf 1.0 (100k keys, S=1024, 8 nodes, weights ${weights.join(',')}, R=2) the modelled busiest node stays within 1.2x its share`, () => {
    const endpoints: Endpoint[] = cacheNodes(8, weights);
    const map = computeShardMap(endpoints, policy(1024, 2));
    const loads = zipfShardLoads(100_000, 1.0, 1024, 10_000);
    const snapshots = Array.from({ length: 6 }, (_, i) => snapshotOf(loads, i, endpoints.map((e) => e.id)));
    const decision = decideHotShards(map, snapshots, DEFAULT_HOT_SHARD_SETTINGS);
    const applied = applyHotShards(map, decision);
    const plain = Math.max(...modelledLoadRatios(map, snapshots[5]!).values());
    const hot = Math.max(...modelledLoadRatios(applied, snapshots[5]!).values());
    assert.ok(plain > 1.4, `plain rendezvous is ${plain.toFixed(3)}x (the case needs spreading)`);
    assert.ok(hot <= 1.2, `with hot shards ${hot.toFixed(3)}x`);
    assert.equal(decision.maxLoadRatio, Math.round(hot * 1000) / 1000);
    // Few shards change (the L1 hit ratio depends on it), and the fold has settled.
    assert.ok(decision.shards.length <= 32, `${decision.shards.length} shards changed`);
    assert.ok(decision.shards.some((h) => h.reason === 'spread' && h.readers > 1));
    assert.equal(decision.moves, 0, 'the last step changed nothing (steady load)');
  });
}

test('hotShardChanges counts the shards whose owners or readers differ, taken up and given back included', () => {
  const map = computeShardMap(cacheNodes(8, [1, 1, 2, 2, 4, 4, 8, 8]), policy(1024, 2));
  const hot = decideHotShards(map, Array.from({ length: 6 }, (_, i) => snapshotOf(zipfShardLoads(100_000, 1.0, 1024, 10_000), i)), DEFAULT_HOT_SHARD_SETTINGS);
  assert.ok(hot.shards.length > 1);
  assert.equal(hotShardChanges(undefined, hot), hot.shards.length, 'from plain rendezvous: every changed shard');
  assert.equal(hotShardChanges(hot, hot), 0);
  assert.equal(hotShardChanges(hot, NO_HOT_SHARDS), hot.shards.length, 'back to plain: every shard given back');
  const [a, b, ...rest] = hot.shards;
  const other = { ...hot, shards: [{ ...a!, readers: a!.readers + 1, owners: [...a!.owners, 'extra'] }, ...rest] };
  assert.equal(hotShardChanges(hot, other), 2, 'one shard changed, one given back');
  assert.ok(b);
});

test('a window too light to judge (under minWindowRequests) moves nothing, and gives changed shards back', () => {
  const map = computeShardMap(cacheNodes(8, [1, 1, 2, 2, 4, 4, 8, 8]), policy(1024, 2));
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, replayWindows: 0 };
  // The same skew at two volumes: Zipf 1.0 at 9 requests per second (90 per 10 s window) and at 10000.
  const light = zipfShardLoads(100_000, 1.0, 1024, 9);
  const heavy = zipfShardLoads(100_000, 1.0, 1024, 10_000);
  const windows = (loads: ReadonlyMap<number, number>, from: number) => Array.from({ length: 6 }, (_, i) => snapshotOf(loads, from + i));
  assert.deepEqual(decideHotShards(map, windows(light, 0), settings).shards, [], 'under 100 requests per window: plain rendezvous');
  const hot = decideHotShards(map, windows(heavy, 0), settings);
  assert.ok(hot.shards.length > 0, 'the same skew at 10000 requests per second is acted on');
  assert.ok(decideHotShards(map, windows(light, 0), { ...settings, minWindowRequests: 0 }).shards.length > 0, 'with the minimum off, 90 requests per window are acted on');
  // With the replay, heavy windows then light ones: the light steps give every shard back within the budget.
  const replay = { ...DEFAULT_HOT_SHARD_SETTINGS, maxMovesPerWindow: 2 };
  const heavyThenLight = [...windows(heavy, 0), ...windows(light, 6), ...windows(light, 12)];
  let before = decideHotShards(map, heavyThenLight.slice(0, 6), replay);
  assert.ok(before.shards.length > 2, `${before.shards.length} shards changed by the heavy load`);
  for (let n = 7; n <= heavyThenLight.length; n++) {
    const d = decideHotShards(map, heavyThenLight.slice(0, n), replay);
    assert.ok(hotShardChanges(before, d) <= 2, `window ${n}: ${hotShardChanges(before, d)} shards changed`);
    before = d;
  }
  assert.deepEqual(before.shards, [], 'twelve light windows later the map is plain again');
});

test('rates too large to add up (a snapshot file or Prometheus giving 1e308) give a finite decision, not NaN ratios', () => {
  const map = computeShardMap(cacheNodes(4), policy(64, 2));
  const huge: LoadSnapshot = {
    windowStartMs: 1_700_000_000_000,
    windowMs: 10_000,
    shards: [{ shard: 1, requests: 1e308 }, { shard: 2, requests: Number.MAX_VALUE }, { shard: 3, requests: 100 }],
    nodes: [{ nodeId: 'cache-0', requests: 1e308 }, { nodeId: 'cache-1', requests: 1e308 }],
  };
  for (const settings of [DEFAULT_HOT_SHARD_SETTINGS, { ...DEFAULT_HOT_SHARD_SETTINGS, replayWindows: 0 }]) {
    const decision = decideHotShards(map, [huge], settings);
    assert.ok(Number.isFinite(decision.maxLoadRatio), `maxLoadRatio ${decision.maxLoadRatio}`);
    assert.ok(Number.isFinite(decision.plainMaxLoadRatio), `plainMaxLoadRatio ${decision.plainMaxLoadRatio}`);
    assert.ok(decision.shards.length > 0, 'the two hot shards are acted on');
    for (const h of decision.shards) {
      assert.ok(Number.isFinite(h.load), `shard ${h.shard} load ${h.load}`);
      assert.doesNotMatch(h.explanation, /NaN|Infinity/, `shard ${h.shard}: ${h.explanation}`);
    }
  }
  for (const ratio of modelledLoadRatios(map, huge).values()) assert.ok(Number.isFinite(ratio));
});
