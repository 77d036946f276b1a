/**
 * Natural logarithm by the fdlibm algorithm (__ieee754_log, Sun Microsystems 1993, as in FreeBSD
 * msun e_log.c): part of hash contract 2 (docs/hashing.md). The score's ln must be bit-identical
 * in every implementation, and libm logs (glibc, musl, Python's math.log) differ from fdlibm in
 * the last bit for a few percent of inputs. fdlibm's is what V8's Math.log and Java's
 * StrictMath.log compute; keyway carries its own copy so its maps never depend on the engine.
 *
 * Only inputs in [2^-63, sqrt(2)) are supported (u is in [2^-53, 1)).
 * Method: x = 2^k * (1 + f) with sqrt(2)/2 < 1 + f < sqrt(2); ln(1 + f) = 2s + s*R(s*s) with
 * s = f / (2 + f), R a minimax polynomial; ln x = k * ln2 + ln(1 + f), ln2 split in hi and lo.
 */

const LN2_HI = 6.93147180369123816490e-1; // 0x3fe62e42 fee00000
const LN2_LO = 1.90821492927058770002e-10; // 0x3dea39ef 35793c76
const LG1 = 6.666666666666735130e-1; // 0x3fe55555 55555593
const LG2 = 3.999999999940941908e-1; // 0x3fd99999 9997fa04
const LG3 = 2.857142874366239149e-1; // 0x3fd24924 94229359
const LG4 = 2.222219843214978396e-1; // 0x3fcc71c5 1d8e78af
const LG5 = 1.818357216161805012e-1; // 0x3fc74664 96cb03de
const LG6 = 1.531383769920937332e-1; // 0x3fc39a09 d078c69f
const LG7 = 1.479819860511658591e-1; // 0x3fc2f112 df3e5244

// Read access to a double's high word (little-endian on every platform Node supports).
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
// POW2[n] = 2^n, to rescale x by its exponent exactly (a power-of-two product is exact), which is
// faster than writing the exponent bits back and re-reading the double.
const POW2 = new Float64Array(64);
POW2[0] = 1;
for (let n = 1; n < 64; n++) POW2[n] = (POW2[n - 1] as number) * 2;

/** fdlibm's ln(x) for x in [2^-63, sqrt(2)): the range of u in hash contract 2 and more. */
export function ln(x: number): number {
  F64[0] = x;
  let hx = U32[1] as number;
  let k = (hx >>> 20) - 1023;
  hx &= 0x000fffff;
  const i = (hx + 0x95f64) & 0x100000;
  k += i >>> 20;
  // x / 2^k lies in [sqrt(2)/2, sqrt(2)): fdlibm's "normalise x or x/2"
  const f = x * (POW2[-k] as number) - 1.0;
  const dk = k;
  if ((0x000fffff & (2 + hx)) < 3) {
    // -2^-20 <= f < 2^-20
    if (f === 0) return k === 0 ? 0 : dk * LN2_HI + dk * LN2_LO;
    const r = f * f * (0.5 - 0.3333333333333333 * f); // fdlibm writes 0.33333333333333333: the same double
    return k === 0 ? f - r : dk * LN2_HI - (r - dk * LN2_LO - f);
  }
  const s = f / (2.0 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  const r = t2 + t1;
  if (((hx - 0x6147a) | (0x6b851 - hx)) > 0) {
    const hfsq = 0.5 * f * f;
    return k === 0 ? f - (hfsq - s * (hfsq + r)) : dk * LN2_HI - (hfsq - (s * (hfsq + r) + dk * LN2_LO) - f);
  }
  return k === 0 ? f - s * (f - r) : dk * LN2_HI - (s * (f - r) - dk * LN2_LO - f);
}
