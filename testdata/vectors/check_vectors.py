#!/usr/bin/env python3
"""A second, independent implementation of keyway's two hash contracts (docs/hashing.md), in
Python with no dependencies, that checks every JSON vector in this folder:

    python3 testdata/vectors/check_vectors.py

It exists to show the contracts are reproducible outside JavaScript; it is not part of the
product. Exit status 0 means every vector matched bit for bit.
"""
import hashlib
import json
import math
import struct
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & M32
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & M32
        k = ((k << 15) | (k >> 17)) & M32
        k = (k * c2) & M32
        h ^= k
        h = ((h << 13) | (h >> 19)) & M32
        h = (h * 5 + 0xE6546B64) & M32
    tail = data[n:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & M32
        k = ((k << 15) | (k >> 17)) & M32
        k = (k * c2) & M32
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def hash_tag(key: str) -> str:
    start = key.find("{")
    if start < 0:
        return key
    end = key.find("}", start + 1)
    if end < 0 or end == start + 1:
        return key
    return key[start + 1:end]


def key_to_shard(key: str, shards: int) -> int:
    return murmur3_x86_32(hash_tag(key).encode("utf-8", "surrogatepass"), 0) % shards


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def z_of(endpoint_id: str, shard: int) -> int:
    z = (fnv1a64(endpoint_id.encode("ascii")) + (shard + 1) * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
LG1, LG2, LG3, LG4 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01
LG5, LG6, LG7 = 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01


def fdlibm_log(x: float) -> float:
    """fdlibm's __ieee754_log for a positive normal x (math.log, the C library's, differs in the
    last bit for a few percent of inputs, so the contract names this algorithm)."""
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    hx = bits >> 32
    k = (hx >> 20) - 1023
    hx &= 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    k += i >> 20
    x = struct.unpack("<d", struct.pack("<Q", ((hx | (i ^ 0x3FF00000)) << 32) | (bits & 0xFFFFFFFF)))[0]
    f = x - 1.0
    dk = float(k)
    if (0x000FFFFF & (2 + hx)) < 3:
        if f == 0.0:
            return 0.0 if k == 0 else dk * LN2_HI + dk * LN2_LO
        r = f * f * (0.5 - 0.33333333333333333 * f)
        return f - r if k == 0 else dk * LN2_HI - ((r - dk * LN2_LO) - f)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    r = t2 + t1
    if ((hx - 0x6147A) | (0x6B851 - hx)) > 0:
        hfsq = 0.5 * f * f
        if k == 0:
            return f - (hfsq - s * (hfsq + r))
        return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
    if k == 0:
        return f - s * (f - r)
    return dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f)


def u_of(z: int) -> float:
    return ((z >> 12) + 0.5) / 2.0**52  # exact in binary64


def score(endpoint_id: str, shard: int, weight: float) -> float:
    return -weight / fdlibm_log(u_of(z_of(endpoint_id, shard)))


def owners(endpoints, policy):
    eligible = [e for e in endpoints if e["ready"] and e["weight"] > 0]
    zone = lambda e: (e["locality"]["region"], e["locality"]["zone"])
    fabric = lambda e: (e["locality"]["region"], e["locality"]["zone"], e["locality"]["subzone"])
    tests = {"none": [None], "subzone": [fabric, None], "zone": [zone, fabric, None]}[policy["spread"]]
    out = []
    for shard in range(policy["shardCount"]):
        # rank: score descending, then id ascending (ids are ASCII: byte order)
        ranked = sorted(eligible, key=lambda e: (-score(e["id"], shard, e["weight"]), e["id"]))
        chosen = []
        for test in tests:
            for e in ranked:
                if len(chosen) == policy["replicas"]:
                    break
                if e in chosen or (test and any(test(o) == test(e) for o in chosen)):
                    continue
                chosen.append(e)
        out.append([e["id"] for e in chosen])
    return out


def js_number(x) -> str:
    # ECMAScript Number::toString: the shortest round-trip digits (Python's repr finds the same
    # ones), laid out by ECMAScript's rules: plain from 1e-6 up to 1e21, else d.ddde+n / d.ddde-n.
    if isinstance(x, bool):
        raise TypeError
    x = float(x)
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number(-x)
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    frac = "" if frac == "0" else frac
    both = whole + frac
    digits = both.lstrip("0")
    # n: the decimal exponent such that x = 0.digits * 10^n.
    n = (int(exp) if exp else 0) + len(whole) - (len(both) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    return digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def version(endpoints, policy) -> str:
    def enc(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return js_number(v)
        return json.dumps(v, ensure_ascii=False)

    rows = []
    for e in sorted(endpoints, key=lambda e: e["id"]):
        loc = e["locality"]
        fields = [e["id"], e["address"], e["port"], loc["region"], loc["zone"], loc["subzone"], e["weight"], e["ready"]]
        # Only a draining endpoint has a ninth element.
        if e.get("draining") is True:
            fields.append("draining")
        rows.append("[" + ",".join(enc(f) for f in fields) + "]")
    head = ",".join(enc(v) for v in ["keyway-rendezvous-v1", policy["shardCount"], policy["replicas"], policy["spread"]])
    text = "[" + head + ",[" + ",".join(rows) + "]]"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


def main() -> int:
    failures = 0
    checked = 0

    def check(ok, what):
        nonlocal failures, checked
        checked += 1
        if not ok:
            failures += 1
            print("MISMATCH:", what)

    for v in load("murmur3.json")["vectors"]:
        check(murmur3_x86_32(bytes.fromhex(v["input_hex"]), v["seed"]) == v["hash"], v)
    for v in load("key-to-shard.json")["vectors"]:
        check(hash_tag(v["key"]) == v["tag"], v)
        check(key_to_shard(v["key"], v["shards"]) == v["shard"], v)
    rdv = load("rendezvous.json")
    for v in rdv["keys"]:
        check("%016x" % fnv1a64(v["id"].encode("ascii")) == v["k"], v)
    for v in rdv["ln"]:
        check(fdlibm_log(v["u"]) == v["ln"], v)
    for v in rdv["scores"]:
        z = z_of(v["id"], v["shard"])
        check("%016x" % z == v["z"], v)
        check(u_of(z) == v["u"], v)
        for s in v["scores"]:
            check(score(v["id"], v["shard"], s["weight"]) == s["score"], (v["id"], v["shard"], s))
    for t in rdv["topologies"]:
        check(owners(t["endpoints"], t["policy"]) == t["owners"], t["name"])
        check(version(t["endpoints"], t["policy"]) == t["version"], t["name"] + " version")
    # How often the C library's log would have disagreed (the reason the contract names fdlibm).
    libm_diff = sum(1 for v in rdv["ln"] if math.log(v["u"]) != v["ln"])
    print(f"{checked} checks, {failures} mismatches ({libm_diff} of {len(rdv['ln'])} ln vectors where this platform's math.log differs from fdlibm)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
