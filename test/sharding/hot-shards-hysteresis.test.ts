// Hysteresis of the hot-shard policy (docs/hot-shards.md "Hysteresis"): on a sampled stream of
// windows like the benchmark's, the replay keeps its moves (few shard changes per window), each
// decision within an anchor period is the previous one plus one step, a burst is still spread
// within 2 windows and given back once it cools, and replicas given the same snapshots agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_HOT_SHARD_SETTINGS, type HotShardDecision, type HotShardSettings, type LoadSnapshot } from '../../src/core/load.js';
import { applyHotShards, computeShardMap, decideHotShards, heldWindows, hotShardChanges, modelledLoadRatios, type ShardMap } from '../../src/sharding/index.js';
import { replayHotShards } from '../../src/sharding/hot-shards.js';
import { canonicalSnapshots, replayStarts } from '../../src/sharding/hot-shard-history.js';
import { PROPERTY_SEED } from './arbitraries.js';
import { cacheNodes, SampledStream, zipfShardLoads } from './hot-shards-fixtures.js';

const SETTINGS: HotShardSettings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000 };
const FLEETS = { equal: [1], weighted: [1, 1, 2, 2, 4, 4, 8, 8] } as const;

function mapOf(weights: readonly number[]): ShardMap {
  return computeShardMap(cacheNodes(8, weights), { shardCount: 1024, replicas: 2, spread: 'none' });
}

/** Feeds `windows` to one replica holding the policy's windows, deciding after each; returns every decision. */
class Replica {
  readonly held: LoadSnapshot[] = [];
  readonly decisions: HotShardDecision[] = [];
  constructor(
    readonly map: ShardMap,
    readonly settings: HotShardSettings,
  ) {}

  feed(snap: LoadSnapshot): HotShardDecision {
    this.held.push(snap);
    if (this.held.length > heldWindows(this.settings)) this.held.shift();
    const d = decideHotShards(this.map, this.held, this.settings);
    this.decisions.push(d);
    return d;
  }
}

/** Shard changes between consecutive decisions from `from` on. */
function changes(decisions: readonly HotShardDecision[], from: number): number[] {
  return decisions.slice(from).map((d, i) => hotShardChanges(decisions[from + i - 1], d));
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

for (const [name, weights] of Object.entries(FLEETS)) {
  test(`${name} fleet, sampled Zipf 1.0 at 700 requests per window: few shard changes per window, and fewer than without the replay`, () => {
    const map = mapOf(weights);
    const stream = new SampledStream({ keys: 20_000, s: 1.0, shardCount: 1024, rps: 700, seed: 7 });
    const replay = new Replica(map, SETTINGS);
    // Without the replay, at the earlier thresholds: every decision from plain rendezvous, shedding
    // above 1.1 into receivers within 1.1 (the earlier policy gave shards back at 1.0, not 1.1).
    const noReplay = new Replica(map, { ...SETTINGS, replayWindows: 0, epsilon: 0.1, margin: 0 });
    const warmup = heldWindows(SETTINGS) + 4;
    const windows = 120;
    for (let i = 0; i < warmup + windows; i++) {
      const snap = stream.next();
      replay.feed(snap);
      noReplay.feed(snap);
    }
    const withReplay = changes(replay.decisions, warmup);
    const without = changes(noReplay.decisions, warmup);
    assert.ok(sum(withReplay) / windows <= 1.2, `${(sum(withReplay) / windows).toFixed(2)} shard changes per window with the replay`);
    assert.ok(sum(withReplay) * 2 <= sum(without), `replay ${sum(withReplay)} changes, without it ${sum(without)}: not half`);
    // The balance is kept: the busiest node under the expected load stays near its share.
    const expected = zipfShardLoads(20_000, 1.0, 1024, 700);
    const snapshot: LoadSnapshot = { windowStartMs: 0, windowMs: 1000, shards: [...expected].map(([shard, requests]) => ({ shard, requests })), nodes: [] };
    const ratios = replay.decisions.slice(warmup).map((d) => Math.max(...modelledLoadRatios(applyHotShards(map, d), snapshot).values()));
    // On average no node stays above the load it sheds at (1 + epsilon + margin).
    const shedAt = 1 + SETTINGS.epsilon + SETTINGS.margin;
    assert.ok(sum(ratios) / ratios.length <= shedAt, `mean modelled busiest node ${(sum(ratios) / ratios.length).toFixed(3)}x its share, sheds above ${shedAt}x`);
  });
}

test('within an anchor period each decision is the previous one plus one step of at most maxMovesPerWindow moves', () => {
  const settings = { ...SETTINGS, maxMovesPerWindow: 3 };
  const map = mapOf(FLEETS.weighted);
  const stream = new SampledStream({ keys: 20_000, s: 1.0, shardCount: 1024, rps: 700, seed: 11, burstKey: 'cold-key' });
  const replica = new Replica(map, settings);
  let checked = 0;
  for (let i = 0; i < 150; i++) {
    // Load that changes: a burst from window 60 to 80, so moves and cooling both happen.
    const snap = stream.next(i >= 60 && i < 80 ? 0.2 : 0);
    const before = replica.decisions.at(-1);
    const d = replica.feed(snap);
    const number = snap.windowStartMs / snap.windowMs;
    if (before === undefined || number % settings.replayWindows === 0) continue; // the anchor moved: a new replay
    const changed = hotShardChanges(before, d);
    assert.ok(changed <= d.moves, `window ${i}: ${changed} shards changed, the step made ${d.moves} moves`);
    assert.ok(d.moves <= settings.maxMovesPerWindow);
    checked++;
  }
  assert.ok(checked > 100);
});

test('consecutive decisions differ in at most maxMovesPerWindow shards, where the replay anchor moves too', () => {
  // Budgets small enough that a new replay disagrees with the old one by more than one window's
  // budget when the anchor moves (without the catch-up, 10 shards changed at once at window 48
  // here with a budget of 2).
  for (const [budget, weights, seed] of [[2, FLEETS.equal, 11], [3, FLEETS.weighted, 12]] as const) {
    const settings = { ...SETTINGS, maxMovesPerWindow: budget };
    const map = mapOf(weights);
    const stream = new SampledStream({ keys: 20_000, s: 1.0, shardCount: 1024, rps: 700, seed, burstKey: 'cold-key' });
    const replica = new Replica(map, settings);
    let caughtUp = 0;
    for (let i = 0; i < 110; i++) {
      // Load that changes: a burst from window 40 to 60, so moves and cooling both happen.
      const before = replica.decisions.at(-1);
      const d = replica.feed(stream.next(i >= 40 && i < 60 ? 0.2 : 0));
      if (before === undefined) continue;
      const changed = hotShardChanges(before, d);
      assert.ok(changed <= budget, `window ${i}: ${changed} shards changed, the budget is ${budget}`);
      if (d.shards.some((h) => h.explanation.includes('anchor moved'))) caughtUp++;
    }
    // The catch-up did run (the old replay's shards were kept for a while after an anchor moved).
    assert.ok(caughtUp > 0, `budget ${budget}: no decision kept a shard from the replay before the anchor moved`);
  }
});

test('a burst is spread within 2 windows, and its shard is given back to plain rendezvous once it cools', () => {
  for (const weights of Object.values(FLEETS)) {
    const map = mapOf(weights);
    const stream = new SampledStream({ keys: 20_000, s: 1.0, shardCount: 1024, rps: 700, seed: 3, burstKey: 'cold-key' });
    const replica = new Replica(map, SETTINGS);
    for (let i = 0; i < 40; i++) replica.feed(stream.next());
    const shard = stream.burstShard;
    assert.equal(replica.decisions.at(-1)!.shards.find((h) => h.shard === shard), undefined, 'the burst shard is plain before the burst');
    let spreadAfter = -1;
    for (let i = 1; i <= 10; i++) {
      const h = replica.feed(stream.next(0.2)).shards.find((x) => x.shard === shard);
      if (spreadAfter < 0 && h !== undefined && h.readers > 1) spreadAfter = i;
    }
    assert.ok(spreadAfter >= 1 && spreadAfter <= 2, `burst shard spread after ${spreadAfter} windows`);
    let backAfter = -1;
    for (let i = 1; i <= 30 && backAfter < 0; i++) {
      if (!replica.feed(stream.next()).shards.some((x) => x.shard === shard)) backAfter = i;
    }
    // It cools once the history's mean has (6 windows), within the churn budget.
    assert.ok(backAfter >= 1 && backAfter <= SETTINGS.historyWindows + 2, `burst shard back after ${backAfter} windows`);
  }
});

test('two replicas given the same snapshots, in any order and with older windows besides, publish identical decisions and versions', () => {
  const map = mapOf(FLEETS.weighted);
  const stream = new SampledStream({ keys: 20_000, s: 1.0, shardCount: 1024, rps: 700, seed: 5, burstKey: 'cold-key' });
  const all: LoadSnapshot[] = [];
  const held = heldWindows(SETTINGS);
  for (let i = 0; i < 90; i++) {
    all.push(stream.next(i >= 50 && i < 60 ? 0.2 : 0));
    const a = all.slice(-held);
    // Replica B read a longer span (older windows too), newest first, entries reversed.
    const b = all.slice(-(held + 7)).reverse().map((s) => ({ ...s, shards: [...s.shards].reverse() }));
    const da = decideHotShards(map, a, SETTINGS);
    const db = decideHotShards(map, b, SETTINGS);
    assert.deepEqual(db, da, `window ${i}`);
    assert.equal(applyHotShards(map, db).version, applyHotShards(map, da).version);
  }
});

test('with replayWindows 0 every decision is a fold from plain rendezvous on the newest history alone', () => {
  const map = mapOf(FLEETS.equal);
  const stream = new SampledStream({ keys: 20_000, s: 1.0, shardCount: 1024, rps: 700, seed: 9 });
  const settings = { ...SETTINGS, replayWindows: 0 };
  const all = Array.from({ length: 30 }, () => stream.next());
  // Older windows make no difference: only the last historyWindows are read.
  assert.deepEqual(decideHotShards(map, all, settings), decideHotShards(map, all.slice(-settings.historyWindows), settings));
});

test('a load hovering at minWindowRequests does not spread and give back the same shards window after window', () => {
  const map = computeShardMap(cacheNodes(4), { shardCount: 64, replicas: 2, spread: 'none' });
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 10_000, historyWindows: 3 };
  const replica = new Replica(map, settings);
  // About 100 requests per 10 s window in all, most on two shards: each step's mean over 3 windows
  // lands a little under, then exactly at, the line (97 to 102 requests).
  for (let i = 0; i < 40; i++) {
    const rps = [9.7, 10.2, 10.2, 9.6][i % 4]!;
    replica.feed({ windowStartMs: 1_800_000_000_000 + i * 10_000, windowMs: 10_000, shards: [{ shard: 5, requests: rps * 0.6 }, { shard: 9, requests: rps * 0.4 }], nodes: [] });
  }
  const changed = changes(replica.decisions, 1);
  const flips = changed.filter((c) => c > 0).length;
  assert.ok(flips <= 2, `the map changed in ${flips} of ${changed.length} windows: ${changed.join(' ')}`);
});

/** Every shard a catch-up decision says it kept from the decision before the anchor moved has that decision's owners and readers. */
function checkKeptFromBefore(map: ShardMap, all: readonly LoadSnapshot[], settings: HotShardSettings): number {
  let checked = 0;
  for (let n = 1; n <= all.length; n++) {
    const windows = canonicalSnapshots(all.slice(0, n), heldWindows(settings));
    const decision = decideHotShards(map, windows, settings);
    const kept = decision.shards.filter((h) => h.explanation.includes('kept from the decision before'));
    if (kept.length === 0) continue;
    // The previous replay's last decision: from its anchor to the window before the switch.
    const { previous, switched } = replayStarts(windows, settings.replayWindows);
    const before = previous < switched ? replayHotShards(map, windows, settings, previous, switched - previous).shards : [];
    for (const h of kept) {
      const b = before.find((x) => x.shard === h.shard);
      assert.deepEqual(b && [b.owners, b.readers], [h.owners, h.readers], `window ${n - 1}, shard ${h.shard}: ${h.explanation}`);
      checked++;
    }
  }
  return checked;
}

test('a shard the catch-up holds from an earlier step of the new replay is not said to be kept from the decision before the anchor moved', () => {
  const map = computeShardMap(cacheNodes(5, [1, 2, 3]), { shardCount: 24, replicas: 2, spread: 'none' });
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000, minWindowRequests: 0, maxMovesPerWindow: 2, replayWindows: 3, historyWindows: 1 };
  const loads = [[], [], [[1, 100]], [[16, 100], [0, 100]], [[1, 100]], [[0, 1], [16, 1]], [[3, 100], [2, 100]], []];
  const all = loads.map((l, i) => ({ windowStartMs: 1_800_000_000_000 + i * 1000, windowMs: 1000, shards: l.map(([shard, requests]) => ({ shard: shard!, requests: requests! })), nodes: [] }));
  // At window 7 the catch-up still holds shard 2 as the new replay spread it at window 6 (the
  // replay has since given it back): no decision before the anchor moved had it.
  const last = decideHotShards(map, all, settings).shards.find((h) => h.shard === 2);
  assert.ok(last !== undefined && last.explanation.includes('anchor moved'), `shard 2 is held by the catch-up: ${JSON.stringify(last)}`);
  checkKeptFromBefore(map, all, settings);
});

test('property: what a catch-up decision says it kept from the decision before the anchor moved is that decision\'s', () => {
  const map = computeShardMap(cacheNodes(5, [1, 2, 3]), { shardCount: 24, replicas: 2, spread: 'none' });
  const windowArb = fc.array(fc.record({ shard: fc.integer({ min: 0, max: 23 }), requests: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 100, max: 3000 })) }), { maxLength: 10 });
  const settingsArb = fc.record({ maxMovesPerWindow: fc.integer({ min: 1, max: 3 }), replayWindows: fc.integer({ min: 2, max: 5 }), historyWindows: fc.integer({ min: 1, max: 3 }) });
  let checked = 0;
  fc.assert(
    fc.property(settingsArb, fc.array(windowArb, { minLength: 1, maxLength: 30 }), (s, list) => {
      const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000, minWindowRequests: 0, ...s };
      const all = list.map((shards, i) => ({ windowStartMs: 1_800_000_000_000 + i * 1000, windowMs: 1000, shards, nodes: [] }));
      checked += checkKeptFromBefore(map, all, settings);
    }),
    { seed: PROPERTY_SEED, numRuns: 150 },
  );
  assert.ok(checked > 0, 'no decision kept a shard from before the anchor moved: the property checked nothing');
});
