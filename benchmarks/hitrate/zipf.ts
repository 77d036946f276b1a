/**
 * Keys drawn from a Zipf distribution (rank r has weight 1 / r^s) with a seeded generator, so every
 * variant of the hit-rate benchmark sees the same request stream.
 */

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws ranks 0..n-1 (0 the most popular) with P(r) proportional to 1 / (r + 1)^s. */
export class ZipfSampler {
  readonly #cdf: Float64Array;
  readonly #random: () => number;

  /** `seed`: a seed for its own generator, or a generator it shares (draws interleave with the caller's). */
  constructor(n: number, s: number, seed: number | (() => number)) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Zipf n must be an integer >= 1, got ${n}`);
    this.#cdf = new Float64Array(n);
    let sum = 0;
    for (let r = 0; r < n; r++) {
      sum += 1 / Math.pow(r + 1, s);
      this.#cdf[r] = sum;
    }
    for (let r = 0; r < n; r++) this.#cdf[r]! /= sum;
    this.#random = typeof seed === 'number' ? seededRandom(seed) : seed;
  }

  /** The share of requests the `k` most popular keys get: the best hit ratio a cache of k entries can have. */
  topShare(k: number): number {
    return k <= 0 ? 0 : this.#cdf[Math.min(k, this.#cdf.length) - 1]!;
  }

  next(): number {
    const u = this.#random();
    let lo = 0;
    let hi = this.#cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The key of a rank, as the client sends it in `x-cache-key`. */
export function keyOfRank(rank: number): string {
  return `item:${rank}`;
}

/**
 * Key names under placement `p`: 0 gives keyOfRank's names; any other `p` renames every key, so
 * the ranks hash to other shards and nodes (another draw of which node holds the hottest keys)
 * while the stream of ranks stays the same.
 */
export function keyOfRankIn(placement: number): (rank: number) => string {
  return placement === 0 ? keyOfRank : (rank) => `item:${rank}:p${placement}`;
}
