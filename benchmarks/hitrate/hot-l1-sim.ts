/**
 * keyway-hot's L1 hit ratio against static keyway, maglev and ring_hash, offline (docs/benchmarks.md "Hot shards"):
 * `node --import tsx benchmarks/hitrate/hot-l1-sim.ts [--placements N] [--weighting equal|weighted] [--set key=value,...] [--no-warm] [--warm-mru] [--keep-draining] [--shards S] [--oracle] [--explain]`.
 * `--oracle`: the policy judges each load's expected per-shard requests, not the window's draws (no sampling noise).
 *
 * No Envoy, no nodes: the benchmark's sequence (Zipf 1.2, then Zipf 1.0, each a paced warm-up,
 * a first span and a steady span; the same seeded samplers and spans as hot.ts) replayed in draw
 * order, one load window per second of the benchmark's pacing. After every window the hot-shard
 * policy decides (decideHotShards on the windows a replica holds, every shard counted) and its map
 * serves from the next window; a spread shard's requests go to one of its readers drawn by weight
 * (Envoy's subset load balancer spreads by weight too). A shard's new primary is warmed as the
 * example node does (the shard's L1 entries of the previous primary filed in by their last use, the
 * clock being the draw number; `--warm-mru`: at the most recent end, as before the example node
 * filed them by recency), and a node that stops reading the shard drops them, whether it stays a
 * non-reading owner or drains it as a former primary (`--keep-draining`: a former primary keeps
 * them until LRU ages them out, as the example node did until it moved draining shards out of L1
 * at once; docs/benchmarks.md "Draining shards leave L1 at once"). Static keyway and
 * Envoy's maglev and ring_hash (envoy-hash-placement.ts) run beside it on the same draws.
 *
 * For static keyway, maglev and ring_hash this is placement-sim.ts's exact replay; for keyway-hot
 * it is a model (the real decision timing, in-flight requests and warm-up latency are left out):
 * on placements 0-5 it follows the real runs' paired costs except in the weighted steady span,
 * where it shows about half of it. It exists to compare policy rules on many placements in
 * minutes; the benchmark with real Envoy decides. `--explain` tallies
 * which requests one variant hits and the other misses, by what the policy did to their shard,
 * and the map changes by kind. It also prints the ceiling: the same draws through one LRU of the
 * fleet's whole L1 capacity, an unpartitioned cache (static placements average at it).
 */
import { parseArgs } from 'node:util';
import type { LoadSnapshot } from '../../src/core/load.js';
import { applyHotShards, computeShardMap, decideHotShards, heldWindows, keyToShard, shardReaders, type ShardMap } from '../../src/sharding/index.js';
import { LruCache } from '../../examples/cache-node/lru.js';
import { cacheNodes } from '../../test/sharding/hot-shards-fixtures.js';
import { FULL, hotSettingsWith, l1Capacity, measuredSpans, WEIGHTINGS, type DrawSpan, type Weighting } from './hot-settings.js';
import { describeSpread } from './hot-stats.js';
import { maglevHostOf, ringHashHostOf } from './envoy-hash-placement.js';
import { keyOfRankIn, seededRandom, ZipfSampler } from './zipf.js';

const { values } = parseArgs({
  options: {
    placements: { type: 'string', default: '24' },
    weighting: { type: 'string', default: 'weighted' },
    set: { type: 'string' },
    'no-warm': { type: 'boolean' },
    'warm-mru': { type: 'boolean' },
    explain: { type: 'boolean' },
    'keep-draining': { type: 'boolean' },
    shards: { type: 'string' },
    oracle: { type: 'boolean' },
  },
});
const settings = hotSettingsWith(values.set, FULL.windowMs);
const weighting = values.weighting as Weighting;
if (!(weighting in WEIGHTINGS)) throw new Error(`--weighting must be equal or weighted, got ${values.weighting}`);
const S = Number(values.shards ?? FULL.shards);
if (!Number.isSafeInteger(S) || S < 1) throw new Error(`--shards must be a positive integer, got ${values.shards}`);
/** Window numbers from a fixed epoch offset, as hot-policy-sim.ts: the replay's anchors fall on the same windows every run. */
const BASE_MS = 1_800_000_000_000;
const tally = new Map<string, number>();
const count = (key: string): void => void tally.set(key, (tally.get(key) ?? 0) + 1);

/** The benchmark's loads in order, with their warm-ups and Zipf 1.0's two measured spans by draw number. */
function sequence(): { loads: { s: number; warmup: number; from: number; to: number }[]; spans: [DrawSpan, DrawSpan] } {
  const loads: { s: number; warmup: number; from: number; to: number }[] = [];
  let spans: [DrawSpan, DrawSpan] | undefined;
  for (const [s, warmup] of [
    [1.2, FULL.firstWarmup],
    [1.0, FULL.warmup],
  ] as const) {
    const from = loads.at(-1)?.to ?? 0;
    const { first, steady } = measuredSpans(FULL, from, warmup);
    loads.push({ s, warmup, from, to: steady.to });
    spans = [first, steady];
  }
  return { loads, spans: spans! };
}

/** The static placements replayed beside keyway-hot (exact, as in placement-sim.ts). */
const STATIC = ['static', 'maglev', 'ring_hash'] as const;
type Variant = (typeof STATIC)[number] | 'hot';

/** L1 hit ratio (points) of each variant and keyway-hot's busiest node's load over its share, per span. */
function run(placement: number): Record<Variant, number[]> & { maxLoad: number[] } {
  const weights = WEIGHTINGS[weighting];
  const nodes = cacheNodes(8, weights);
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const plain = computeShardMap(nodes, { shardCount: S, replicas: 2, spread: 'none' });
  const nameOf = keyOfRankIn(placement);
  const shardOf = Int32Array.from({ length: FULL.keys }, (_, r) => keyToShard(nameOf(r), S));
  const random = seededRandom(placement * 7919 + 13);
  const { loads, spans } = sequence();
  const samplers = loads.map((l) => new ZipfSampler(FULL.keys, l.s, FULL.seed + Math.round(l.s * 10)));
  // --oracle: the policy sees each load's expected per-shard share instead of the window's draws.
  const expected = loads.map((_, i) => {
    const share = new Float64Array(S);
    for (let r = 0; r < FULL.keys; r++) share[shardOf[r]!]! += samplers[i]!.topShare(r + 1) - samplers[i]!.topShare(r);
    return share;
  });
  const capacities = weights.map((w) => l1Capacity(FULL, weights, w));
  const variants = [...STATIC, 'hot'] as const;
  let draw = 0;
  const clock = (): number => draw;
  const l1 = Object.fromEntries(variants.map((v) => [v, capacities.map((c) => new LruCache<number, true>(c, clock))])) as Record<Variant, LruCache<number, true>[]>;
  const hits = Object.fromEntries(variants.map((v) => [v, [0, 0]])) as Record<Variant, number[]>;
  const hosts = nodes.map((n) => ({ key: n.id, weight: n.weight }));
  const envoy = { maglev: maglevHostOf(hosts), ring_hash: ringHashHostOf(hosts) };
  const envoyNode = { maglev: new Int32Array(FULL.keys), ring_hash: new Int32Array(FULL.keys) };
  for (let r = 0; r < FULL.keys; r++) for (const k of ['maglev', 'ring_hash'] as const) envoyNode[k][r] = envoy[k](nameOf(r));
  const served = spans.map(() => weights.map(() => 0));
  const held = heldWindows(settings);
  const windows: LoadSnapshot[] = [];
  let current: ShardMap = plain;

  const readersOf = (m: ShardMap, shard: number): readonly string[] => m.owners[shard]!.slice(0, Math.max(1, shardReaders(m, shard)));
  const pick = (m: ShardMap, shard: number): number => {
    const readers = readersOf(m, shard);
    if (readers.length === 1) return index.get(readers[0]!)!;
    let u = random() * readers.reduce((a, id) => a + weights[index.get(id)!]!, 0);
    for (const id of readers) {
      u -= weights[index.get(id)!]!;
      if (u < 0) return index.get(id)!;
    }
    return index.get(readers[readers.length - 1]!)!;
  };
  /** What the ownership agent and the example node do when the map changes: warm gained readers, drop left ones. */
  const handoff = (before: ShardMap, after: ShardMap, inSpans: boolean): void => {
    for (let shard = 0; shard < S; shard++) {
      const a = readersOf(before, shard);
      const b = readersOf(after, shard);
      if (a.join() === b.join()) continue;
      if (inSpans) {
        const home = plain.owners[shard]![0];
        count(`change: ${b.length > a.length ? 'more readers' : b.length < a.length ? 'fewer readers' : b[0] === home ? 'primary back home' : 'primary moved'}`);
      }
      if (values['no-warm']) continue;
      const entries = [...l1.hot[index.get(a[0]!)!]!.newestFirst()].filter(([rank]) => shardOf[rank] === shard).reverse();
      // A new primary warms (the two-phase handoff); a new spread reader starts cold, as with the
      // example node (warming new readers too gives the same figures to 0.01 point).
      if (!a.includes(b[0]!)) {
        const cache = l1.hot[index.get(b[0]!)!]!;
        if (values['warm-mru']) for (const [rank] of entries) cache.set(rank, true);
        else cache.insertByIdle(entries);
      }
      for (const id of a) {
        if (b.includes(id) || (values['keep-draining'] && !after.owners[shard]!.includes(id))) continue;
        const cache = l1.hot[index.get(id)!]!;
        for (const rank of cache.keys()) if (shardOf[rank] === shard) cache.delete(rank);
      }
    }
  };

  for (let w = 0; draw < spans[1].to; w++) {
    const load = loads.findIndex((l) => draw < l.to);
    const { warmup, from } = loads[load]!;
    const perWindow = draw < from + warmup ? Math.round(warmup / (FULL.warmupMinMs / 1000)) : FULL.rate;
    const counts = new Map<number, number>();
    for (let i = 0; i < perWindow && draw < loads[load]!.to; i++, draw++) {
      const rank = samplers[load]!.next();
      const shard = shardOf[rank]!;
      counts.set(shard, (counts.get(shard) ?? 0) + 1);
      const span = spans.findIndex((sp) => draw >= sp.from && draw < sp.to);
      const hit = Object.fromEntries(variants.map((v) => [v, false])) as Record<Variant, boolean>;
      for (const variant of variants) {
        const node = variant === 'maglev' || variant === 'ring_hash' ? envoyNode[variant][rank]! : pick(variant === 'static' ? plain : current, shard);
        if (variant === 'hot' && span >= 0) served[span]![node]!++;
        const cache = l1[variant][node]!;
        hit[variant] = cache.get(rank) !== undefined;
        if (!hit[variant]) cache.set(rank, true);
        if (hit[variant] && span >= 0) hits[variant][span]!++;
      }
      if (values.explain && span >= 0 && hit.static !== hit.hot) {
        const changed = readersOf(current, shard).join() !== readersOf(plain, shard).join();
        count(`${hit.hot ? 'hot hits, static misses' : 'static hits, hot misses'}: ${!changed ? 'shard as in static' : shardReaders(current, shard) > 1 ? 'shard spread' : 'shard moved'}`);
      }
    }
    const shards = values.oracle
      ? [...expected[load]!].map((p, shard) => ({ shard, requests: p * perWindow })).filter((x) => x.requests > 0)
      : [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([shard, n]) => ({ shard, requests: n }));
    windows.push({ windowStartMs: BASE_MS + w * 1000, windowMs: 1000, shards, nodes: [{ nodeId: 'all', requests: perWindow }] });
    if (windows.length > held) windows.shift();
    const next = applyHotShards(plain, decideHotShards(plain, windows, settings));
    if (next.version !== current.version) handoff(current, next, values.explain === true && draw >= spans[0].from);
    current = next;
  }
  const total = weights.reduce((a, b) => a + b, 0);
  const points = (h: number): number => (100 * h) / FULL.measured;
  return {
    ...(Object.fromEntries(variants.map((v) => [v, hits[v].map(points)])) as Record<Variant, number[]>),
    maxLoad: served.map((c) => Math.max(...c.map((n, i) => n / FULL.measured / (weights[i]! / total)))),
  };
}

/**
 * The ceiling: the same draws through one LRU holding the fleet's whole L1 capacity. A key
 * placement splits it into per-node LRUs; over placements they average at it, not above.
 */
function sharedL1(): number[] {
  const { loads, spans } = sequence();
  const samplers = loads.map((l) => new ZipfSampler(FULL.keys, l.s, FULL.seed + Math.round(l.s * 10)));
  const weights = WEIGHTINGS[weighting];
  const cache = new LruCache<number, true>(weights.reduce((a, w) => a + l1Capacity(FULL, weights, w), 0));
  const hits = spans.map(() => 0);
  for (let draw = 0; draw < spans[1].to; draw++) {
    const rank = samplers[loads.findIndex((l) => draw < l.to)]!.next();
    const span = spans.findIndex((sp) => draw >= sp.from && draw < sp.to);
    if (cache.get(rank) === undefined) cache.set(rank, true);
    else if (span >= 0) hits[span]!++;
  }
  return hits.map((h) => (100 * h) / FULL.measured);
}

const placements = Number(values.placements);
/** keyway-hot minus each static placement, per span, by placement. */
const against = Object.fromEntries(STATIC.map((v) => [v, [[], []]])) as unknown as Record<(typeof STATIC)[number], [number[], number[]]>;
const diffs = against.static;
const maxLoads: number[][] = [[], []];
console.log(`keyway-hot against static keyway, ${weighting}, Zipf 1.0 after Zipf 1.2, ${placements} placements, S = ${S}; settings ${values.set ?? 'defaults'}`);
for (let p = 0; p < placements; p++) {
  const r = run(p);
  for (const i of [0, 1]) {
    for (const v of STATIC) against[v][i]!.push(r.hot[i]! - r[v][i]!);
    maxLoads[i]!.push(r.maxLoad[i]!);
  }
  console.log(`  placement ${p}: static L1 ${r.static.map((x) => x.toFixed(2)).join(' / ')}, maglev ${r.maglev.map((x) => x.toFixed(2)).join(' / ')}, ring_hash ${r.ring_hash.map((x) => x.toFixed(2)).join(' / ')}, hot minus static ${diffs[0]![p]!.toFixed(2)} / ${diffs[1]![p]!.toFixed(2)}, hot busiest node ${r.maxLoad.map((x) => x.toFixed(2)).join(' / ')} (first / steady span)`);
}
for (const [i, name] of ['first span', 'steady span'].entries()) {
  console.log(`${name}: hot minus static (points) ${describeSpread(diffs[i]!)}; busiest node ${describeSpread(maxLoads[i]!)}, worst ${Math.max(...maxLoads[i]!).toFixed(2)}`);
  for (const k of ['maglev', 'ring_hash'] as const) console.log(`  hot minus ${k}: ${describeSpread(against[k][i]!)}`);
}
console.log(`one L1 of the fleet's capacity (the ceiling): ${sharedL1().map((x) => x.toFixed(2)).join(' / ')} (first / steady span)`);
if (values.explain) for (const [k, v] of [...tally.entries()].sort()) console.log(`  ${k}: ${v}`);
