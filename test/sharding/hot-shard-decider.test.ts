// The hot-shard decision kept between windows (src/sharding/hot-shard-decider.ts, docs/hot-shards.md
// "Hysteresis"): at every window it equals decideHotShards on the same snapshots, across anchor moves,
// catch-ups, late reports that change a window already read or arrive for one it may judge, missing
// windows (the newest too), a new map and new settings; and it replays from the anchor only when it has to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_HOT_SHARD_SETTINGS, type HotShardSettings, type LoadSnapshot } from '../../src/core/load.js';
import { computeShardMap, decideHotShards, heldWindows, HotShardDecider } from '../../src/sharding/index.js';
import { PROPERTY_SEED } from './arbitraries.js';
import { cacheNodes, SampledStream } from './hot-shards-fixtures.js';

const S = 256;
const SETTINGS: HotShardSettings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000, maxMovesPerWindow: 2, replayWindows: 8 };

for (const [what, skipped] of [
  ['every window decided', (): boolean => false],
  // Windows 3, 6, 10, 13, ...: among them 23 and 63, each the last before an anchor moves.
  ['a third of the windows not decided', (i: number): boolean => i % 10 === 3 || i % 10 === 6 || i % 10 === 0],
] as const) {
  test(`window by window the kept decision equals the replayed one, across anchor moves and catch-ups, and it replays only once (${what})`, () => {
    check(skipped);
  });
}

function check(skipped: (i: number) => boolean): void {
  const map = computeShardMap(cacheNodes(8, [1, 1, 2, 2, 4, 4, 8, 8]), { shardCount: S, replicas: 2, spread: 'none' });
  const stream = new SampledStream({ keys: 5_000, s: 1.0, shardCount: S, rps: 400, seed: 5, burstKey: 'cold-key' });
  const decider = new HotShardDecider();
  const held: LoadSnapshot[] = [];
  const windows = 100;
  let withLoad = 0;
  let catchingUp = 0;
  for (let i = 0; i < windows; i++) {
    held.push(stream.next(i >= 30 && i < 50 ? 0.2 : 0));
    if (held.length > heldWindows(SETTINGS)) held.shift();
    if (skipped(i)) continue;
    const expected = decideHotShards(map, held, SETTINGS);
    assert.deepEqual(decider.decide(map, held, SETTINGS), expected, `window ${i}`);
    if (expected.shards.length > 0) withLoad++;
    if (expected.shards.some((h) => h.explanation.includes('anchor moved'))) catchingUp++;
  }
  assert.ok(withLoad > 50, `only ${withLoad} decisions had hot shards: the comparison checked little`);
  assert.ok(catchingUp > 0, 'no decision caught up after an anchor move: that path went unchecked');
  // It replays once, at the first window: each later decision, the anchor's moves (12 of them
  // here) included, took the steps of the windows since the last one from the replays it held.
  assert.equal(decider.replaysBegun, 1);
}

test('a late report, a missing window, another map, other settings, decisions skipped across two anchor moves: still the replayed decision, replayed again only there', () => {
  const nodes = cacheNodes(8);
  const map = computeShardMap(nodes, { shardCount: S, replicas: 2, spread: 'none' });
  const other = computeShardMap(nodes.slice(0, 7), { shardCount: S, replicas: 2, spread: 'none' });
  const stream = new SampledStream({ keys: 5_000, s: 1.2, shardCount: S, rps: 400, seed: 9 });
  const decider = new HotShardDecider();
  const held: LoadSnapshot[] = [];
  let settings = SETTINGS;
  let m = map;
  for (let i = 0; i < 90; i++) {
    const snap = stream.next();
    if (i === 25) continue; // a window nobody reported
    held.push(snap);
    if (held.length > heldWindows(settings)) held.shift();
    const before = decider.replaysBegun;
    if (i === 30) {
      // A late report raised a window the replay has read: it must replay, not resume.
      const k = held.length - 3;
      const w = held[k]!;
      held[k] = { ...w, shards: w.shards.map((s, j) => (j === 0 ? { ...s, requests: s.requests + 50 } : s)) };
    }
    if (i === 40) m = other;
    if (i === 45) m = map;
    if (i === 50) settings = { ...SETTINGS, epsilon: 0.2 };
    // No decision in the windows before the anchor moves at 56 (a busy event loop): the replays
    // held step through them first, then start the new period. No decision from 60 to 73 misses
    // the moves at 64 and 72: that replays.
    if ((i >= 53 && i <= 55) || (i >= 60 && i <= 73)) continue;
    assert.deepEqual(decider.decide(m, held, settings), decideHotShards(m, held, settings), `window ${i}`);
    if ([0, 30, 40, 45, 50, 74].includes(i)) assert.equal(decider.replaysBegun, before + 1, `window ${i}: the change did not start a new replay`);
    else assert.equal(decider.replaysBegun, before, `window ${i}: replayed with nothing changed`);
  }
});

// Windows as a source gives them: those within heldWindows of now that have data, so the span
// loses its oldest window even when the newest has no data (yet).
const at = (i: number, shards: { shard: number; requests: number }[]): LoadSnapshot => ({ windowStartMs: 1_800_000_000_000 + i * 1000, windowMs: 1000, shards, nodes: [] });
const TINY: HotShardSettings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000, minWindowRequests: 0, maxMovesPerWindow: 1, replayWindows: 1, historyWindows: 2 };
const tinyMap = computeShardMap(cacheNodes(4, [1, 2, 3, 5]), { shardCount: 24, replicas: 2, spread: 'none' });

test('a window the kept replays judged that left the span (the newest window has no data yet) replays: still the replayed decision', () => {
  const decider = new HotShardDecider();
  const w = [at(0, [{ shard: 0, requests: 100 }]), at(1, []), at(2, [{ shard: 1, requests: 100 }]), at(3, [])];
  // Window 4 has no data: the span read at its end holds windows 1 to 3. The replay before the
  // anchor now begins at window 1 judging window 1 alone; the kept one judged windows 0 and 1.
  for (const held of [w.slice(0, 1), w.slice(0, 2), w.slice(0, 3), w.slice(1, 4)]) {
    assert.deepEqual(decider.decide(tinyMap, held, TINY), decideHotShards(tinyMap, held, TINY), `windows ${held.map((x) => x.windowStartMs % 100_000)}`);
  }
});

test('a late report for the first window the kept replays may judge replays: still the replayed decision', () => {
  const settings = { ...TINY, historyWindows: 4 };
  const decider = new HotShardDecider();
  const loads = [[], [], [{ shard: 0, requests: 919 }], [], [{ shard: 0, requests: 1822 }, { shard: 1, requests: 1827 }, { shard: 2, requests: 2 }], [], [{ shard: 2, requests: 912 }]];
  const w = loads.map((shards, i) => at(i, shards));
  // Window 1 is reported late: the replays held judged from window 2 on. Once it arrives (still
  // within the history of the replay before the anchor, which begins at window 4), they must not be kept.
  for (let i = 0; i < w.length; i++) {
    const held = w.slice(Math.max(0, i + 1 - heldWindows(settings)), i + 1).filter((x) => x !== w[1]);
    assert.deepEqual(decider.decide(tinyMap, held, settings), decideHotShards(tinyMap, held, settings), `window ${i}`);
  }
  const late = w.slice(1);
  assert.deepEqual(decider.decide(tinyMap, late, settings), decideHotShards(tinyMap, late, settings), 'window 1 reported late');
});

test('property: with windows missing, reported late and decisions skipped, the kept decision is the replayed one', () => {
  const windowArb = fc.record({
    shards: fc.array(fc.record({ shard: fc.integer({ min: 0, max: 23 }), requests: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 100, max: 3000 })) }), { maxLength: 8 }),
    // Reported at once (0), late by that many windows, or never (-1).
    late: fc.oneof({ weight: 10, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 2, arbitrary: fc.constant(-1) }),
    decide: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  });
  const settingsArb = fc.record({ maxMovesPerWindow: fc.integer({ min: 0, max: 4 }), replayWindows: fc.integer({ min: 1, max: 4 }), historyWindows: fc.integer({ min: 1, max: 4 }) });
  fc.assert(
    fc.property(settingsArb, fc.array(windowArb, { minLength: 1, maxLength: 40 }), (s, list) => {
      const settings = { ...TINY, ...s };
      const decider = new HotShardDecider();
      const reported = new Map<number, LoadSnapshot>();
      list.forEach((x, i) => {
        list.forEach((y, j) => {
          if (y.late >= 0 && j + y.late === i) reported.set(j, at(j, y.shards));
        });
        const held = [...reported.entries()].filter(([j]) => j > i - heldWindows(settings)).sort((a, b) => a[0] - b[0]).map(([, snap]) => snap);
        if (!x.decide || held.length === 0) return;
        assert.deepEqual(decider.decide(tinyMap, held, settings), decideHotShards(tinyMap, held, settings), `window ${i}`);
      });
    }),
    { seed: PROPERTY_SEED, numRuns: 300 },
  );
});
