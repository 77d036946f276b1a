// The hot-shard policy on a stationary stream at low traffic (docs/hot-shards.md "The algorithm"):
// once settled, a stream whose expected load never changes should not keep moving shards. Each
// window is a seeded multinomial draw of a fixed Zipf stream over few keys, as the example cache
// nodes report it (10 s windows, rates quantized to 3 digits); the real decider (the one
// `keyway serve` keeps between windows) decides after every window, and the shard changes between
// consecutive decisions are counted after a settling period. Traffic goes from 60 requests per
// window (under minWindowRequests: nothing moves) through the soak's 600 to 6000.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_HOT_SHARD_SETTINGS, type HotShardDecision, type HotShardSettings, type LoadSnapshot } from '../../src/core/load.js';
import { applyHotShards, computeShardMap, heldWindows, hotShardChanges, keyToShard, modelledLoadRatios, type ShardMap } from '../../src/sharding/index.js';
import { HotShardDecider } from '../../src/sharding/hot-shard-decider.js';
import { judgedRate } from '../../src/sharding/hot-shard-history.js';
import { keyOfRank, seededRandom, ZipfSampler } from '../../benchmarks/hitrate/zipf.js';

const SETTINGS: HotShardSettings = DEFAULT_HOT_SHARD_SETTINGS;
const WINDOW_MS = SETTINGS.windowMs;
const S = 1024;
const KEYS = 50;
/** Windows counted after the settling period: ten anchor moves with the default replayWindows. */
const COUNTED = 240;
const SEEDS = [1, 2, 3];

/** The example topology's fleet (examples/topology.yaml): 8 nodes, weights 20 to 141, 4 fabrics, R = 2 apart by subzone. */
function exampleMap(): ShardMap {
  const nodes: [string, number, string][] = [
    ['gpu-a1', 80, 'nvl-1'], ['gpu-a2', 80, 'nvl-1'], ['gpu-a3', 40, 'nvl-2'], ['gpu-a4', 40, 'nvl-2'],
    ['gpu-b1', 141, 'nvl-3'], ['gpu-b2', 80, 'nvl-3'], ['gpu-b3', 40, 'nvl-4'], ['gpu-b4', 20, 'nvl-4'],
  ];
  const endpoints: Endpoint[] = nodes.map(([id, weight, subzone], i) => ({
    id, address: '127.0.0.1', port: 7001 + i, locality: { region: 'us-east', zone: i < 4 ? 'us-east-1a' : 'us-east-1b', subzone }, weight, ready: true,
  }));
  return computeShardMap(endpoints, { shardCount: S, replicas: 2, spread: 'subzone' });
}

/** Expected requests per second by shard: Zipf 1.0 over KEYS keys at `perWindow` requests per window. */
function expectedRates(perWindow: number): Map<number, number> {
  let h = 0;
  for (let r = 0; r < KEYS; r++) h += 1 / (r + 1);
  const out = new Map<number, number>();
  for (let r = 0; r < KEYS; r++) {
    const shard = keyToShard(keyOfRank(r), S);
    out.set(shard, (out.get(shard) ?? 0) + perWindow / (WINDOW_MS / 1000) / (r + 1) / h);
  }
  return out;
}

interface Figures {
  /** Shard changes between consecutive decisions, over the counted windows. */
  readonly changes: number;
  /** Of them, in windows where the replay's anchor did not move. */
  readonly withinReplay: number;
  /** The modelled busiest node under the expected load, mean over the counted windows. */
  readonly meanBusiest: number;
}

/** One seeded stationary stream at `perWindow` requests per window, the decider deciding after every window. */
function run(map: ShardMap, perWindow: number, seed: number): Figures {
  const random = seededRandom(seed);
  const zipf = new ZipfSampler(KEYS, 1.0, random);
  const shardOf = Array.from({ length: KEYS }, (_, r) => keyToShard(keyOfRank(r), S));
  const expected: LoadSnapshot = { windowStartMs: 0, windowMs: WINDOW_MS, shards: [...expectedRates(perWindow)].sort((a, b) => a[0] - b[0]).map(([shard, requests]) => ({ shard, requests })), nodes: [] };
  const held = heldWindows(SETTINGS);
  const settle = held + 4;
  const decider = new HotShardDecider();
  const windows: LoadSnapshot[] = [];
  const q = (x: number): number => Number(x.toPrecision(3));
  let previous: HotShardDecision | undefined;
  let changes = 0;
  let withinReplay = 0;
  let busiest = 0;
  for (let w = 0; w < settle + COUNTED; w++) {
    const counts = new Map<number, number>();
    for (let i = 0; i < perWindow; i++) {
      const shard = shardOf[zipf.next()]!;
      counts.set(shard, (counts.get(shard) ?? 0) + 1);
    }
    const windowStartMs = 1_800_000_000_000 + w * WINDOW_MS;
    const shards = [...counts].sort((a, b) => a[0] - b[0]).map(([shard, n]) => ({ shard, requests: q(n / (WINDOW_MS / 1000)) }));
    windows.push({ windowStartMs, windowMs: WINDOW_MS, shards, nodes: [{ nodeId: 'all', requests: q(perWindow / (WINDOW_MS / 1000)) }] });
    if (windows.length > held) windows.shift();
    const d = decider.decide(map, windows, SETTINGS);
    const changed = hotShardChanges(previous, d);
    previous = d;
    if (w < settle) continue;
    changes += changed;
    if ((windowStartMs / WINDOW_MS) % SETTINGS.replayWindows !== 0) withinReplay += changed;
    busiest += Math.max(...modelledLoadRatios(applyHotShards(map, d), expected).values());
  }
  return { changes, withinReplay, meanBusiest: busiest / COUNTED };
}

const perWindow = (f: Figures): string => (f.changes / COUNTED).toFixed(2);

test('60 requests per window (under minWindowRequests): a stationary stream moves nothing', () => {
  const map = exampleMap();
  for (const seed of SEEDS) assert.equal(run(map, 60, seed).changes, 0, `seed ${seed}`);
});

test('600 requests per window over few keys: noise in the last two windows does not move shards within a replay', () => {
  const map = exampleMap();
  const figures = SEEDS.map((seed) => run(map, 600, seed));
  const within = figures.reduce((a, f) => a + f.withinReplay, 0);
  const all = figures.reduce((a, f) => a + f.changes, 0);
  const windows = COUNTED * SEEDS.length;
  const report = figures.map((f, i) => `seed ${SEEDS[i]}: ${perWindow(f)} changes/window, ${f.withinReplay} within a replay, busiest ${f.meanBusiest.toFixed(3)}`).join('; ');
  assert.ok(within / windows <= 0.15, `${(within / windows).toFixed(2)} shard changes per window within a replay (${report})`);
  assert.ok(all / windows <= 0.55, `${(all / windows).toFixed(2)} shard changes per window in all (${report})`);
  // The balance is kept: on average no node stays above the load it sheds at.
  for (const f of figures) assert.ok(f.meanBusiest <= 1 + SETTINGS.epsilon + SETTINGS.margin, report);
});

test('6000 requests per window: a settled stationary stream changes few shards, and the balance holds', () => {
  const map = exampleMap();
  const figures = SEEDS.map((seed) => run(map, 6000, seed));
  const all = figures.reduce((a, f) => a + f.changes, 0);
  const report = figures.map((f, i) => `seed ${SEEDS[i]}: ${perWindow(f)} changes/window, ${f.withinReplay} within a replay, busiest ${f.meanBusiest.toFixed(3)}`).join('; ');
  assert.ok(all / (COUNTED * SEEDS.length) <= 0.15, `${(all / (COUNTED * SEEDS.length)).toFixed(2)} shard changes per window (${report})`);
  for (const f of figures) assert.ok(f.meanBusiest <= 1 + SETTINGS.epsilon + SETTINGS.margin, report);
});

test('the recent mean is judged only when it exceeds the history mean beyond chance', () => {
  // A shard at 0.3 requests per second (3 a window) whose last two 10 s windows held 5 and 4: chance.
  assert.equal(judgedRate(0.3, 0.45, 20), 0.3);
  // A key turning hot: nothing before, 5 a window in each of the last two windows (mean 10/6 a window).
  assert.equal(judgedRate(10 / 6 / 10, 0.5, 20), 0.5);
  // With a thousand requests a window a rise of a fifth is real; with a hundred, within chance (2.8 sd).
  assert.equal(judgedRate(1000, 1200, 2), 1200);
  assert.equal(judgedRate(100, 120, 2), 100);
  assert.equal(judgedRate(5, 4, 20), 5);
});
