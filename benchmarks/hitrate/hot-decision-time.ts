/**
 * CPU of one hot-shard decision (docs/hot-shards.md "Hysteresis"):
 * `node --import tsx benchmarks/hitrate/hot-decision-time.ts [--repeat N] [--endpoints 64,2000]`.
 *
 * 64 endpoints (and 2000: `--endpoints`; weights 1, 2, 4, 8), R = 2, S = 1024 and 16384, Zipf 1.0 over 100000 keys at
 * 10000 requests per second; each window lists the 256 hottest shards (the snapshot bound of
 * src/sources/load/aggregate.ts), every shard's rate varied by a seeded +-20 % per window. The
 * replay (`replayWindows: 24`, the policy reading 77 windows: the replay in force and, for the catch-up after its anchor moved, the one before) and the policy without it
 * (`replayWindows: 0`, 6 windows) alternate on the same windows; the table gives the median and
 * range of `--repeat` decisions (default 7) in milliseconds, each on a copy of the map as a new
 * object, as after a map change (the policy keeps what it ranks per map object). Then the replay as `keyway serve`
 * runs it, kept between windows (HotShardDecider): the windows slide by one per decision, 48
 * decisions, two anchor moves among them; its row gives the median, the range and the mean, and
 * how many of the 48 replayed whole.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_HOT_SHARD_SETTINGS, type LoadSnapshot } from '../../src/core/load.js';
import { computeShardMap, decideHotShards, heldWindows, HotShardDecider } from '../../src/sharding/index.js';
import { cacheNodes, zipfShardLoads } from '../../test/sharding/hot-shards-fixtures.js';
import { median } from './stats.js';
import { seededRandom } from './zipf.js';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '7' }, endpoints: { type: 'string', default: '64,2000' } } });
const repeat = Number(values.repeat);
const endpointCounts = values.endpoints.split(',').map(Number);
if (endpointCounts.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new Error(`--endpoints must be positive integers, got ${values.endpoints}`);
const VARIANTS = { 'no replay (replayWindows 0)': 0, 'replay (replayWindows 24)': 24 } as const;

console.log('| endpoints | S | variant | windows read | ms per decision: median (min-max) |');
console.log('|---|---|---|---|---|');
for (const N of endpointCounts) for (const S of [1024, 16384]) {
  const map = computeShardMap(cacheNodes(N, [1, 2, 4, 8]), { shardCount: S, replicas: 2, spread: 'none' });
  const loads = zipfShardLoads(100_000, 1.0, S, 10_000);
  const random = seededRandom(S);
  const longest = heldWindows({ ...DEFAULT_HOT_SHARD_SETTINGS, replayWindows: 24 });
  const SLIDES = 48;
  const windows: LoadSnapshot[] = Array.from({ length: longest + SLIDES }, (_, i) => ({
    windowStartMs: 1_800_000_000_000 + i * 1000,
    windowMs: 1000,
    shards: [...loads]
      .map(([shard, r]) => ({ shard, requests: Number((r * (0.8 + 0.4 * random())).toPrecision(3)) }))
      .sort((a, b) => b.requests - a.requests)
      .slice(0, 256)
      .sort((a, b) => a.shard - b.shard),
    nodes: [{ nodeId: 'all', requests: 10_000 }],
  }));
  const times = new Map<string, number[]>(Object.keys(VARIANTS).map((k) => [k, []]));
  for (let i = 0; i < repeat; i++) {
    for (const [name, replayWindows] of Object.entries(VARIANTS)) {
      const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000, replayWindows };
      const read = windows.slice(longest - heldWindows(settings), longest);
      const fresh = { ...map };
      const t = performance.now();
      decideHotShards(fresh, read, settings);
      times.get(name)!.push(performance.now() - t);
    }
  }
  for (const [name, replayWindows] of Object.entries(VARIANTS)) {
    const ts = times.get(name)!;
    const held = heldWindows({ ...DEFAULT_HOT_SHARD_SETTINGS, replayWindows });
    console.log(`| ${N} | ${S} | ${name} | ${held} | ${median(ts).toFixed(1)} (${Math.min(...ts).toFixed(1)}-${Math.max(...ts).toFixed(1)}) |`);
  }
  // keyway serve's way: one decider, one more window per decision.
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000, replayWindows: 24 };
  const decider = new HotShardDecider();
  const served = { ...map }; // a map object no decision above has seen
  decider.decide(served, windows.slice(0, longest), settings);
  const kept: number[] = [];
  const begun = decider.replaysBegun;
  for (let j = 1; j <= SLIDES; j++) {
    const read = windows.slice(j, j + longest);
    const t = performance.now();
    decider.decide(served, read, settings);
    kept.push(performance.now() - t);
  }
  const mean = kept.reduce((a, b) => a + b, 0) / kept.length;
  console.log(
    `| ${N} | ${S} | replay kept between windows (${decider.replaysBegun - begun} of ${SLIDES} decisions replayed) | ${longest} | ` +
      `${median(kept).toFixed(1)} (${Math.min(...kept).toFixed(1)}-${Math.max(...kept).toFixed(1)}), mean ${mean.toFixed(1)} |`,
  );
}
