/**
 * A digest of the hot-shard policy's decisions over a fixed grid of inputs, to check that a change
 * meant to make the policy cheaper leaves every decision the same, bit for bit (replicas of
 * different versions must agree): `node --import tsx benchmarks/hitrate/hot-decision-digest.ts
 * [--out FILE]`, before and after the change, then compare the two digests (and, if they differ,
 * the two files of decisions, one JSON line each). docs/benchmarks.md "The policy's CPU per window".
 *
 * The grid: 8 to 1000 endpoints of several weights, S = 256 to 16384, Zipf loads whose hottest
 * shards triple halfway, node totals present or not, and five settings (the defaults, `margin: 0`,
 * a narrow band, a churn budget of 2 and of 1 with short replays); each window's decision, replayed
 * whole (decideHotShards) and kept (HotShardDecider), which must agree with each other too.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_HOT_SHARD_SETTINGS, type HotShardSettings, type LoadSnapshot } from '../../src/core/load.js';
import { computeShardMap, decideHotShards, heldWindows, HotShardDecider } from '../../src/sharding/index.js';
import { cacheNodes, zipfShardLoads } from '../../test/sharding/hot-shards-fixtures.js';
import { seededRandom } from './zipf.js';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const FLEETS: readonly [number, number, readonly number[]][] = [
  [8, 256, [1]],
  [8, 1024, [1, 1, 2, 2, 4, 4, 8, 8]],
  [64, 1024, [1, 2, 4, 8]],
  [300, 4096, [1, 3]],
  [1000, 16384, [1, 2, 4, 8]],
];
const LOADS: readonly [number, Partial<HotShardSettings>][] = [
  [1.0, {}],
  [1.2, { margin: 0 }],
  [0.8, { epsilon: 0.03, margin: 0.02 }],
  [1.0, { maxMovesPerWindow: 2, replayWindows: 8 }],
  [1.1, { maxMovesPerWindow: 1, replayWindows: 6, maxReaders: 2 }],
];
const random = seededRandom(12345);
const lines: string[] = [];
let mismatches = 0;
for (const [n, shardCount, weights] of FLEETS) {
  const map = computeShardMap(cacheNodes(n, weights), { shardCount, replicas: 2, spread: 'none' });
  for (const [s, over] of LOADS) {
    const settings: HotShardSettings = { ...DEFAULT_HOT_SHARD_SETTINGS, enabled: true, windowMs: 1000, ...over };
    const loads = zipfShardLoads(20_000, s, shardCount, 10_000);
    const count = heldWindows(settings) + 30;
    const windows: LoadSnapshot[] = Array.from({ length: count }, (_, i) => ({
      windowStartMs: 1_800_000_000_000 + i * 1000,
      windowMs: 1000,
      shards: [...loads]
        .map(([shard, r]) => ({ shard, requests: Number((r * (0.6 + 0.8 * random()) * (i > count / 2 && shard % 7 === 0 ? 3 : 1)).toPrecision(3)) }))
        .sort((a, b) => b.requests - a.requests)
        .slice(0, 256),
      nodes: random() < 0.5 ? [] : [{ nodeId: 'all', requests: 12_000 }],
    }));
    const decider = new HotShardDecider();
    const held = heldWindows(settings);
    // Every window on the small fleets, every 7th on the largest (a whole replay each).
    for (let i = 1; i <= count; i += shardCount > 4096 ? 7 : 1) {
      const read = windows.slice(Math.max(0, i - held), i);
      const decision = JSON.stringify(decideHotShards(map, read, settings));
      if (JSON.stringify(decider.decide(map, read, settings)) !== decision) mismatches++;
      lines.push(decision);
    }
  }
}
if (values.out) writeFileSync(values.out, `${lines.join('\n')}\n`);
console.log(`${createHash('sha256').update(lines.join('\n')).digest('hex')}  ${lines.length} decisions, ${mismatches} where the kept decision differed`);
if (mismatches > 0) process.exitCode = 1;
