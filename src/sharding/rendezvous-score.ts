/**
 * Hash contract 2 (docs/hashing.md): the weighted rendezvous score of an endpoint for a shard.
 *
 *   k(id)        = FNV-1a 64 over the UTF-8 bytes of the endpoint id
 *   z(id, shard) = SplitMix64 output for state k(id) + (shard + 1) * 0x9E3779B97F4A7C15 (mod 2^64)
 *   u            = ((z >>> 12) + 0.5) / 2^52, exactly representable, in (0, 1)
 *   score        = -weight / ln(u), ln being fdlibm's (ln.ts)
 *
 * The 64-bit arithmetic runs on unsigned 32-bit halves (numbers, never BigInt) because the score
 * is computed S x N times for a full map. A BigInt reference in the tests cross-checks it.
 */

import { ln } from './ln.js';

const encoder = new TextEncoder();

/** 2^20: the high half's weight in z >>> 12 (a 52-bit integer). */
const TWO_20 = 1048576;
/** 2^-52: u = ((z >>> 12) + 0.5) * 2^-52 (a power of two, so the product is exact). */
const TWO_MINUS_52 = 2 ** -52;

const GOLDEN_HI = 0x9e3779b9;
const GOLDEN_LO = 0x7f4a7c15;
const MIX1_HI = 0xbf58476d;
const MIX1_LO = 0x1ce4e5b9;
const MIX2_HI = 0x94d049bb;
const MIX2_LO = 0x133111eb;

/** A 64-bit unsigned value as two unsigned 32-bit halves. */
export interface U64 {
  readonly hi: number;
  readonly lo: number;
}

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers (exact, via 16-bit limbs). */
function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/** FNV-1a 64 (offset 0xcbf29ce484222325, prime 0x100000001b3) over bytes: the endpoint key k(id). */
function fnv1a64(bytes: Uint8Array): U64 {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ (bytes[i] as number)) >>> 0;
    // (hi, lo) * (0x100, 0x1b3) mod 2^64
    const nlo = Math.imul(lo, 0x1b3) >>> 0;
    const nhi = (mulHi32(lo, 0x1b3) + Math.imul(hi, 0x1b3) + Math.imul(lo, 0x100)) >>> 0;
    hi = nhi;
    lo = nlo;
  }
  return { hi, lo };
}

/** k(id): FNV-1a 64 of the endpoint id's UTF-8 bytes. Computed once per endpoint. */
export function endpointKey(id: string): U64 {
  return fnv1a64(encoder.encode(id));
}

/** (shard + 1) * 0x9E3779B97F4A7C15 mod 2^64: the SplitMix64 state increment for a shard. */
export function shardStep(shard: number): U64 {
  const s = shard + 1;
  // s < 2^32, so the product's high half only needs s * GOLDEN_HI (low 32 bits) and the carry.
  return {
    hi: (mulHi32(s, GOLDEN_LO) + Math.imul(s, GOLDEN_HI)) >>> 0,
    lo: Math.imul(s, GOLDEN_LO) >>> 0,
  };
}

/** Steps for every shard in [0, shardCount), cached per shard count (they depend on nothing else). */
export interface ShardSteps {
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
}
const stepCache = new Map<number, ShardSteps>();
/** shardStep for every shard of a map (contract 2's per-shard SplitMix64 increment), cached. */
export function shardSteps(shardCount: number): ShardSteps {
  let steps = stepCache.get(shardCount);
  if (!steps) {
    const hi = new Uint32Array(shardCount);
    const lo = new Uint32Array(shardCount);
    for (let s = 0; s < shardCount; s++) {
      const st = shardStep(s);
      hi[s] = st.hi;
      lo[s] = st.lo;
    }
    steps = { hi, lo };
    if (stepCache.size > 16) stepCache.clear();
    stepCache.set(shardCount, steps);
  }
  return steps;
}

// z of the last mix64 call as [hi, lo]. A typed array, because a module-level `let` holding a
// uint32 above 2^31 would box a heap number on every write of the hot path.
const Z = new Uint32Array(2);

/** SplitMix64's output function on state (kHi,kLo) + (gHi,gLo); leaves z in Z. */
function mix64(kHi: number, kLo: number, gHi: number, gLo: number): void {
  const sumLo = kLo + gLo;
  let lo = sumLo >>> 0;
  let hi = (kHi + gHi + (sumLo > 0xffffffff ? 1 : 0)) >>> 0;
  // z ^= z >>> 30
  lo = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0;
  hi = (hi ^ (hi >>> 30)) >>> 0;
  // z *= 0xBF58476D1CE4E5B9
  let nhi = (mulHi32(lo, MIX1_LO) + Math.imul(hi, MIX1_LO) + Math.imul(lo, MIX1_HI)) >>> 0;
  lo = Math.imul(lo, MIX1_LO) >>> 0;
  hi = nhi;
  // z ^= z >>> 27
  lo = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0;
  hi = (hi ^ (hi >>> 27)) >>> 0;
  // z *= 0x94D049BB133111EB
  nhi = (mulHi32(lo, MIX2_LO) + Math.imul(hi, MIX2_LO) + Math.imul(lo, MIX2_HI)) >>> 0;
  lo = Math.imul(lo, MIX2_LO) >>> 0;
  hi = nhi;
  // z ^= z >>> 31
  Z[1] = lo ^ ((lo >>> 31) | (hi << 1));
  Z[0] = hi ^ (hi >>> 31);
}

/** u in (0, 1) from a precomputed endpoint key and shard step: ((z >>> 12) + 0.5) / 2^52, exact. */
function uFromParts(kHi: number, kLo: number, gHi: number, gLo: number): number {
  mix64(kHi, kLo, gHi, gLo);
  return ((Z[0] as number) * TWO_20 + ((Z[1] as number) >>> 12) + 0.5) * TWO_MINUS_52;
}

/**
 * The contract's score from u: -weight / ln(u), with fdlibm's ln (ln.ts). Every score in keyway
 * is computed by exactly this expression.
 */
export function scoreFromU(u: number, weight: number): number {
  return -weight / ln(u);
}

/**
 * The rendezvous score from a precomputed endpoint key and shard step. Weight must be > 0 (callers
 * skip ineligible endpoints).
 */
function scoreFromParts(kHi: number, kLo: number, gHi: number, gLo: number, weight: number): number {
  return scoreFromU(uFromParts(kHi, kLo, gHi, gLo), weight);
}

/**
 * u of endpoints [0, n) for the shard with step (gHi, gLo) into `out`: the hot loop of every
 * shard map, kept in this module so the per-pair call is an inlinable local one.
 */
export function uShard(kHi: Uint32Array, kLo: Uint32Array, n: number, gHi: number, gLo: number, out: Float64Array): void {
  for (let i = 0; i < n; i++) out[i] = uFromParts(kHi[i] as number, kLo[i] as number, gHi, gLo);
}

/** u of one endpoint (key kHi, kLo) for every shard of `steps` into `out`. */
export function uAcrossShards(kHi: number, kLo: number, steps: ShardSteps, out: Float64Array): void {
  const hi = steps.hi;
  const lo = steps.lo;
  for (let s = 0; s < hi.length; s++) out[s] = uFromParts(kHi, kLo, hi[s] as number, lo[s] as number);
}

/** Scores of endpoints [0, n) for one shard into `out` (for callers that want every score). */
export function scoreShard(
  kHi: Uint32Array,
  kLo: Uint32Array,
  weight: Float64Array,
  n: number,
  gHi: number,
  gLo: number,
  out: Float64Array,
): void {
  for (let i = 0; i < n; i++) out[i] = scoreFromU(uFromParts(kHi[i] as number, kLo[i] as number, gHi, gLo), weight[i] as number);
}

/** z(id, shard) as 16 hex digits: for test vectors and other implementations to check against. */
export function rendezvousZ(id: string, shard: number): U64 {
  const k = endpointKey(id);
  const g = shardStep(shard);
  mix64(k.hi, k.lo, g.hi, g.lo);
  return { hi: Z[0] as number, lo: Z[1] as number };
}

/** u(id, shard) in (0, 1): the uniform variate behind the score (hash contract 2). */
export function rendezvousU(id: string, shard: number): number {
  const k = endpointKey(id);
  const g = shardStep(shard);
  return uFromParts(k.hi, k.lo, g.hi, g.lo);
}

/** The weighted rendezvous score of endpoint `id` for `shard` (hash contract 2); higher ranks first. */
export function rendezvousScore(id: string, shard: number, weight: number): number {
  const k = endpointKey(id);
  const g = shardStep(shard);
  return scoreFromParts(k.hi, k.lo, g.hi, g.lo, weight);
}

/** Formats a U64 as 16 lowercase hex digits. */
export function u64Hex(v: U64): string {
  return v.hi.toString(16).padStart(8, '0') + v.lo.toString(16).padStart(8, '0');
}
