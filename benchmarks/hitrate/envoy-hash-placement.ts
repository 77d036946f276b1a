/**
 * Where Envoy's `maglev` and `ring_hash` load balancers send a key, computed offline: the placement
 * the hot-shard benchmark's Envoy variants use (hot-planes.ts: hosts hashed by their `envoy.lb`
 * hash_key, the node id; `hash_policy` on the `x-cache-key` header; default table and ring sizes),
 * so a simulation can replay the benchmark's stream against the same key-to-node function without
 * Envoy. Written from Envoy's load balancer sources (1.36: the Maglev paper's table fill with
 * Envoy's weighting, and the ketama ring); checked against the real runs by placement-sim.ts, which
 * reproduces their L1 figures.
 */
import xxhash from 'xxhash-wasm';

export interface HashedHost {
  /** The `envoy.lb` hash_key (the node id). */
  readonly key: string;
  readonly weight: number;
}

/** A key-to-host function: the index into the hosts given. */
export type HostOf = (key: string) => number;

const MASK64 = (1n << 64n) - 1n;
const { h64 } = await xxhash();
/** Envoy's HashUtil::xxHash64 (seed 0 unless given): what a header hash policy computes on the header's value. */
export const xx64 = (s: string, seed = 0n): bigint => h64(s, seed) & MASK64;

/** Envoy's default Maglev table size (a prime). */
const MAGLEV_TABLE_SIZE = 65_537n;

/** Envoy `maglev`: the table filled host by host in hash_key order, each host's turn paced by its weight. */
export function maglevHostOf(hosts: readonly HashedHost[]): HostOf {
  const total = hosts.reduce((a, h) => a + h.weight, 0);
  const order = hosts.map((h, i) => ({ ...h, i })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const maxWeight = Math.max(...order.map((h) => h.weight / total));
  const entries = order.map((h) => ({
    host: h.i,
    offset: xx64(h.key) % MAGLEV_TABLE_SIZE,
    skip: (xx64(h.key, 1n) % (MAGLEV_TABLE_SIZE - 1n)) + 1n,
    weight: h.weight / total,
    target: 0,
    next: 0n,
  }));
  const size = Number(MAGLEV_TABLE_SIZE);
  const table = new Int32Array(size).fill(-1);
  let filled = 0;
  for (let iteration = 1; filled < size; iteration++) {
    for (const e of entries) {
      if (filled >= size) break;
      if (iteration * e.weight < e.target) continue;
      e.target += maxWeight;
      let c = Number((e.offset + e.skip * e.next) % MAGLEV_TABLE_SIZE);
      while (table[c] !== -1) {
        e.next++;
        c = Number((e.offset + e.skip * e.next) % MAGLEV_TABLE_SIZE);
      }
      table[c] = e.host;
      e.next++;
      filled++;
    }
  }
  return (key) => table[Number(xx64(key) % MAGLEV_TABLE_SIZE)]!;
}

/** Envoy's default minimum ring size. */
const MIN_RING_SIZE = 1024;

/** Envoy `ring_hash` (xxHash): `hash_key_i` points per host, the least weighted host getting a whole number; a key goes to the first point at or after its hash. */
export function ringHashHostOf(hosts: readonly HashedHost[]): HostOf {
  const total = hosts.reduce((a, h) => a + h.weight, 0);
  const minWeight = Math.min(...hosts.map((h) => h.weight / total));
  const scale = Math.ceil(minWeight * MIN_RING_SIZE) / minWeight;
  const ring: { hash: bigint; host: number }[] = [];
  let current = 0;
  let target = 0;
  hosts.forEach((h, host) => {
    target += scale * (h.weight / total);
    for (let i = 0; current < target; i++, current++) ring.push({ hash: xx64(`${h.key}_${i}`), host });
  });
  ring.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  return (key) => {
    const h = xx64(key);
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ring[mid]!.hash < h) lo = mid + 1;
      else hi = mid;
    }
    return ring[lo === ring.length ? 0 : lo]!.host;
  };
}
