/** Workloads for the hot-shard policy's tests: Zipf loads per shard and snapshots from them. */
import type { Endpoint } from '../../src/core/endpoint.js';
import type { LoadSnapshot } from '../../src/core/load.js';
import { keyToShard } from '../../src/sharding/index.js';
import { keyOfRank, seededRandom, ZipfSampler } from '../../benchmarks/hitrate/zipf.js';

/** `n` ready endpoints `cache-i` with the given weights (cycled), one zone. */
export function cacheNodes(n: number, weights: readonly number[] = [1]): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `cache-${i}`,
    address: `10.0.0.${i + 1}`,
    port: 7000,
    locality: { region: 'r', zone: 'z', subzone: 'f' },
    weight: weights[i % weights.length]!,
    ready: true,
  }));
}

/** Expected requests per second by shard when `keys` keys `item:r` are drawn Zipf(s) at `rps`. */
export function zipfShardLoads(keys: number, s: number, shardCount: number, rps: number): Map<number, number> {
  let h = 0;
  for (let r = 0; r < keys; r++) h += 1 / Math.pow(r + 1, s);
  const out = new Map<number, number>();
  for (let r = 0; r < keys; r++) {
    const shard = keyToShard(`item:${r}`, shardCount);
    out.set(shard, (out.get(shard) ?? 0) + (rps / Math.pow(r + 1, s)) / h);
  }
  return out;
}

/** A snapshot of window `i` (10 s windows) listing every shard of `loads`, quantized to 3 significant digits as sources do. */
export function snapshotOf(loads: ReadonlyMap<number, number>, i: number, nodes: readonly string[] = []): LoadSnapshot {
  const q = (x: number): number => Number(x.toPrecision(3));
  const shards = [...loads.entries()].sort((a, b) => a[0] - b[0]).map(([shard, r]) => ({ shard, requests: q(r) }));
  let total = 0;
  for (const s of shards) total += s.requests;
  return {
    windowStartMs: 1_700_000_000_000 + i * 10_000,
    windowMs: 10_000,
    shards,
    nodes: nodes.map((nodeId) => ({ nodeId, requests: total / nodes.length })),
  };
}

/**
 * A stream of sampled 1 s windows like the hot-shard benchmark's: `rps` requests per window, keys
 * `item:r` drawn Zipf(s) over `keys` keys, and while `burst(i)` is on, `burstKey` takes that share
 * of the window's requests. Each window's snapshot lists every shard with a request, as the local
 * source does (quantized to 3 significant digits). Deterministic for a seed.
 */
export class SampledStream {
  readonly #zipf: ZipfSampler;
  readonly #shardOf: Int32Array;
  readonly #random: () => number;
  #window = 0;

  constructor(
    readonly opts: { readonly keys: number; readonly s: number; readonly shardCount: number; readonly rps: number; readonly seed: number; readonly burstKey?: string },
  ) {
    this.#shardOf = new Int32Array(opts.keys);
    for (let r = 0; r < opts.keys; r++) this.#shardOf[r] = keyToShard(keyOfRank(r), opts.shardCount);
    // One generator for the burst draws and the ranks, interleaved: the stream is one seeded sequence.
    this.#random = seededRandom(opts.seed);
    this.#zipf = new ZipfSampler(opts.keys, opts.s, this.#random);
  }

  /** The shard the burst key hashes to. */
  get burstShard(): number {
    return keyToShard(this.opts.burstKey ?? 'burst', this.opts.shardCount);
  }

  /** The next window's snapshot; `burstShare` of its requests go to the burst key. */
  next(burstShare = 0): LoadSnapshot {
    const counts = new Map<number, number>();
    for (let i = 0; i < this.opts.rps; i++) {
      const shard = burstShare > 0 && this.#random() < burstShare ? this.burstShard : this.#shardOf[this.#zipf.next()]!;
      counts.set(shard, (counts.get(shard) ?? 0) + 1);
    }
    const shards = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([shard, n]) => ({ shard, requests: Number(n.toPrecision(3)) }));
    return { windowStartMs: 1_800_000_000_000 + this.#window++ * 1000, windowMs: 1000, shards, nodes: [{ nodeId: 'all', requests: this.opts.rps }] };
  }
}
