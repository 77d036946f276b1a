/**
 * An independent, deliberately plain implementation of hash contract 2 for cross-checking: BigInt
 * 64-bit arithmetic instead of 32-bit halves, and the spread policy as the literal greedy walk over a
 * fully sorted ranking instead of the closed form in src/sharding/owner-selection.ts.
 */
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy, SpreadPolicy } from '../../src/core/policy.js';

const MASK = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;

export function fnv1a64Ref(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & MASK;
  }
  return h;
}

/** SplitMix64's output function (Vigna), applied to an already advanced state. */
export function splitMix64Mix(state: bigint): bigint {
  let z = state & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

/** The first `count` outputs of a SplitMix64 generator seeded with `seed`. */
export function splitMix64Sequence(seed: bigint, count: number): bigint[] {
  const out: bigint[] = [];
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (state + GOLDEN) & MASK;
    out.push(splitMix64Mix(state));
  }
  return out;
}

export function zRef(id: string, shard: number): bigint {
  const k = fnv1a64Ref(new TextEncoder().encode(id));
  return splitMix64Mix(k + BigInt(shard + 1) * GOLDEN);
}

export function uRef(z: bigint): number {
  return (Number(z >> 12n) + 0.5) / 2 ** 52;
}

export function scoreRef(id: string, shard: number, weight: number): number {
  return -weight / Math.log(uRef(zRef(id, shard)));
}

export function hex64(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

interface Candidate {
  readonly id: string;
  readonly score: number;
  readonly zone: string;
  readonly fabric: string;
}

/** The spread policy exactly as worded: passes over the full ranking, each taking what it allows. */
export function greedyOwners(cands: readonly Candidate[], replicas: number, spread: SpreadPolicy): string[] {
  const ranked = [...cands].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const distinctZone = (c: Candidate, chosen: Candidate[]) => chosen.every((o) => o.zone !== c.zone);
  const distinctFabric = (c: Candidate, chosen: Candidate[]) => chosen.every((o) => o.fabric !== c.fabric);
  const any = () => true;
  const passes =
    spread === 'none' ? [any] : spread === 'subzone' ? [distinctFabric, any] : [distinctZone, distinctFabric, any];
  const chosen: Candidate[] = [];
  for (const pass of passes) {
    for (const c of ranked) {
      if (chosen.length === replicas) break;
      if (!chosen.includes(c) && pass(c, chosen)) chosen.push(c);
    }
  }
  return chosen.map((c) => c.id);
}

/** Owners of every shard by the reference (slow: BigInt per pair; keep S x N small). */
export function referenceOwners(endpoints: readonly Endpoint[], policy: ShardingPolicy): string[][] {
  const eligible = endpoints.filter((e) => e.ready && e.weight > 0);
  const out: string[][] = [];
  for (let s = 0; s < policy.shardCount; s++) {
    const cands = eligible.map((e) => ({
      id: e.id,
      score: scoreRef(e.id, s, e.weight),
      zone: JSON.stringify([e.locality.region, e.locality.zone]),
      fabric: JSON.stringify([e.locality.region, e.locality.zone, e.locality.subzone]),
    }));
    out.push(greedyOwners(cands, policy.replicas, policy.spread));
  }
  return out;
}
