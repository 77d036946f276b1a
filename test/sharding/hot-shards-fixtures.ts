/** Workloads for the hot-shard policy's tests: Zipf loads per shard and snapshots from them. */
import type { Endpoint } from '../../src/core/endpoint.js';
import type { LoadSnapshot } from '../../src/core/load.js';
import { keyToShard } from '../../src/sharding/index.js';

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
