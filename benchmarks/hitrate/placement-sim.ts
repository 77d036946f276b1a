/**
 * How much the L1 hit ratio of the hot-shard benchmark depends on where the keys land
 * (docs/benchmarks.md "Hot shards"): `node --import tsx benchmarks/hitrate/placement-sim.ts [--placements N] [--show K]`.
 *
 * No Envoy, no nodes: the benchmark's Zipf 1.0 stream (the same seeded sampler, 20000 keys), its
 * eight LRU L1s (400 entries per node, split by weight) and its measured spans by draw number,
 * replayed in draw order for the three static placements of the benchmark: keyway static (key to
 * shard by hash contract 1, shard to its weighted-rendezvous primary, S = 1024), Envoy `maglev`
 * and Envoy `ring_hash` (envoy-hash-placement.ts). For a static placement the L1 of a span is a
 * function of which node each key lives on and of the stream alone: this replay gives the real
 * runs' figures to the hundredth of a point. Repetition r of the benchmark renames the keys
 * (placement r), so each repetition draws one placement per variant; this prints, over many
 * placements, each variant's L1 and the paired differences, against which the benchmark's few
 * repetitions are read. Placement p uses the names of repetition p, so p = 0, 1, 2 are the runs in
 * docs/benchmarks.md.
 */
import { parseArgs } from 'node:util';
import { computeShardMap, keyToShard } from '../../src/sharding/index.js';
import { LruCache } from '../../examples/cache-node/lru.js';
import { cacheNodes } from '../../test/sharding/hot-shards-fixtures.js';
import { FULL, l1Capacity, measuredSpans, WEIGHTINGS, type DrawSpan } from './hot-settings.js';
import { describeSpread } from './hot-stats.js';
import { maglevHostOf, ringHashHostOf, type HostOf } from './envoy-hash-placement.js';
import { keyOfRankIn, ZipfSampler } from './zipf.js';

const { values } = parseArgs({ options: { placements: { type: 'string', default: '60' }, show: { type: 'string', default: '3' } } });
const placements = Number(values.placements);
/** How many placements, from 0, are also printed one by one (to set beside the benchmark's repetitions). */
const shown = Math.min(placements, Number(values.show));
const { keys: KEYS, l1PerNode: L1_PER_NODE, shards: S, seed: SEED } = FULL;

/** L1 hit ratio over each span when rank r's key lives on node `nodeOf[r]`. */
function replay(draws: Int32Array, nodeOf: Int32Array, capacities: readonly number[], windows: readonly DrawSpan[]): number[] {
  const l1 = capacities.map((c) => new LruCache<number, true>(c));
  const hits = windows.map(() => 0);
  for (let i = 0; i < draws.length; i++) {
    const rank = draws[i]!;
    const cache = l1[nodeOf[rank]!]!;
    const hit = cache.get(rank) !== undefined;
    if (!hit) cache.set(rank, true);
    for (let w = 0; w < windows.length; w++) if (hit && i >= windows[w]!.from && i < windows[w]!.to) hits[w]!++;
  }
  return hits.map((h, w) => h / (windows[w]!.to - windows[w]!.from));
}

// Zipf 1.0 run alone (firstWarmup) and after another load (warmup).
const alone = measuredSpans(FULL, 0, FULL.firstWarmup);
const inSequence = measuredSpans(FULL, 0, FULL.warmup);
const windows = [alone.first, alone.steady, inSequence.steady] as const;
// The first span of the sequence's Zipf 1.0 starts from the L1s Zipf 1.2 left, which this replay does not have.
const names = ['alone, first span', 'alone, steady span', `after another load (warm-up ${FULL.warmup}), steady span`];
const sampler = new ZipfSampler(KEYS, 1.0, SEED + 10);
const draws = Int32Array.from({ length: windows.reduce((m, w) => Math.max(m, w.to), 0) }, () => sampler.next());
const KINDS = ['keyway', 'maglev', 'ring_hash'] as const;

console.log(`L1 hit ratio (points) over ${placements} placements, Zipf 1.0, ${KEYS} keys, L1 ${L1_PER_NODE} per node, replayed in draw order`);
for (const [weighting, weights] of Object.entries(WEIGHTINGS)) {
  const nodes = cacheNodes(8, weights);
  const capacities = weights.map((w) => l1Capacity(FULL, weights, w));
  const map = computeShardMap(nodes, { shardCount: S, replicas: 2, spread: 'none' });
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const hosts = nodes.map((n) => ({ key: n.id, weight: n.weight }));
  const hostOf: Record<(typeof KINDS)[number], HostOf> = {
    keyway: (key) => index.get(map.owners[keyToShard(key, S)]![0]!)!,
    maglev: maglevHostOf(hosts),
    ring_hash: ringHashHostOf(hosts),
  };
  const l1 = Object.fromEntries(KINDS.map((k) => [k, windows.map(() => [] as number[])])) as Record<(typeof KINDS)[number], number[][]>;
  for (let p = 0; p < placements; p++) {
    const nameOf = keyOfRankIn(p);
    for (const kind of KINDS) {
      const nodeOf = Int32Array.from({ length: KEYS }, (_, r) => hostOf[kind](nameOf(r)));
      replay(draws, nodeOf, capacities, windows).forEach((x, w) => l1[kind][w]!.push(x * 100));
    }
  }
  for (let w = 0; w < windows.length; w++) {
    console.log(`\n${weighting}, ${names[w]} (draws ${windows[w]!.from}-${windows[w]!.to}):`);
    for (const kind of KINDS) console.log(`  ${kind.padEnd(9)} ${describeSpread(l1[kind][w]!)}; placements 0-${shown - 1}: ${l1[kind][w]!.slice(0, shown).map((x) => x.toFixed(2)).join(', ')}`);
    for (const kind of ['maglev', 'ring_hash'] as const) {
      const diff = l1.keyway[w]!.map((k, p) => k - l1[kind][w]![p]!);
      console.log(`  keyway minus ${kind}, paired by placement: ${describeSpread(diff)}`);
    }
  }
}
