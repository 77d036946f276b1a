/**
 * A seeded random generator (mulberry32) and the budget of a fuzz run, for the fuzz and
 * differential tests: small and deterministic, so a failure names a seed and a case to replay.
 * Longer campaign: `KEYWAY_FUZZ_ITERATIONS=20000 KEYWAY_FUZZ_SEED=7 node --import tsx --test <file>`.
 */

/** Iterations and seed of a run: small and fixed by default (CI), more from the environment. */
export function fuzzBudget(defaultIterations: number): { iterations: number; seed: number } {
  const iterations = Number(process.env.KEYWAY_FUZZ_ITERATIONS ?? defaultIterations);
  const seed = Number(process.env.KEYWAY_FUZZ_SEED ?? 1);
  if (!Number.isSafeInteger(iterations) || iterations <= 0) throw new Error(`KEYWAY_FUZZ_ITERATIONS must be a positive integer, got ${process.env.KEYWAY_FUZZ_ITERATIONS}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`KEYWAY_FUZZ_SEED must be an integer, got ${process.env.KEYWAY_FUZZ_SEED}`);
  return { iterations, seed };
}

/** mulberry32: small, seeded, good enough to pick cases and mutations. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** In [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}
