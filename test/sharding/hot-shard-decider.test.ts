// The hot-shard decision kept between windows (src/sharding/hot-shard-decider.ts, docs/hot-shards.md
// "Hysteresis"): at every window it equals decideHotShards on the same snapshots, across anchor moves,
// catch-ups, late reports that change a window already read, missing windows, a new map and new
// settings; and it replays from the anchor only when it has to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HOT_SHARD_SETTINGS, type HotShardSettings, type LoadSnapshot } from '../../src/core/load.js';
import { computeShardMap, decideHotShards, heldWindows, HotShardDecider } from '../../src/sharding/index.js';
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
