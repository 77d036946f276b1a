/**
 * Hash contract 1 (docs/hashing.md): key to shard.
 * shard = murmur3_x86_32(utf8(hashTag(key)), seed 0) mod S, unsigned.
 */
import { KeywayError } from '../core/errors.js';
import { murmur3Range } from './murmur3.js';

// Reused encode buffer: keyToShard is called per request by the REST lookup. Tags longer than
// SCRATCH_MAX_CHARS are encoded apart, so one huge key does not hold 3 bytes per character for good.
let scratch = new Uint8Array(256);
const SCRATCH_MAX_CHARS = 4096;
const utf8 = new TextEncoder();

/**
 * The part of `key` that is hashed, by Redis Cluster's hash-tag rule: if the key holds a `{` and a
 * later `}` with at least one character between the first `{` and the first `}` after it, only that
 * part; otherwise the whole key. `"{}x"` hashes `"{}x"`, `"a{b}{c}"` hashes `"b"`, `"{{a}}"` hashes `"{a"`.
 */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/**
 * UTF-8 bytes of `s` into the shared scratch buffer; returns the length. Lone surrogates become
 * U+FFFD (EF BF BD), exactly as TextEncoder (WHATWG) does. Hand-written because TextEncoder's
 * call into native code costs more than hashing a short key.
 */
export function encodeUtf8Scratch(s: string): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  if (scratch.length < s.length * 3) scratch = new Uint8Array(Math.max(s.length * 3, scratch.length * 2));
  const b = scratch;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      b[n++] = c;
    } else if (c < 0x800) {
      b[n++] = 0xc0 | (c >> 6);
      b[n++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        b[n++] = 0xf0 | (c >> 18);
        b[n++] = 0x80 | ((c >> 12) & 0x3f);
        b[n++] = 0x80 | ((c >> 6) & 0x3f);
        b[n++] = 0x80 | (c & 0x3f);
      } else {
        b[n++] = 0xef;
        b[n++] = 0xbf;
        b[n++] = 0xbd;
      }
    } else {
      b[n++] = 0xe0 | (c >> 12);
      b[n++] = 0x80 | ((c >> 6) & 0x3f);
      b[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}

/** The bytes written by the last encodeUtf8Scratch call (a view; valid until the next call). */
export function scratchBytes(length: number): Uint8Array {
  return scratch.subarray(0, length);
}

/**
 * The shard of a cache key (hash contract 1): MurmurHash3 x86_32, seed 0, over the UTF-8 bytes of
 * `hashTag(key)`, unsigned, modulo `shardCount`. Throws BAD_ARGUMENT unless shardCount is an integer >= 1.
 */
export function keyToShard(key: string, shardCount: number): number {
  checkShardCount(shardCount);
  const tag = hashTag(key);
  if (tag.length > SCRATCH_MAX_CHARS) {
    // TextEncoder writes a lone surrogate as U+FFFD, as encodeUtf8Scratch does.
    const bytes = utf8.encode(tag);
    return murmur3Range(bytes, bytes.length, 0) % shardCount;
  }
  const length = encodeUtf8Scratch(tag);
  return murmur3Range(scratch, length, 0) % shardCount;
}

/**
 * Hash contract 1's S (docs/hashing.md): an integer >= 1 (`x % 0` is NaN, `x % 2.5` no shard). A
 * string is named as one: "got 1024" for '1024' (an environment variable passed on) did not say
 * what was wrong.
 * @throws KeywayError BAD_ARGUMENT, field `shardCount`
 */
export function checkShardCount(shardCount: number): void {
  if (!Number.isSafeInteger(shardCount) || shardCount < 1) {
    const got = typeof shardCount === 'string' ? `the string ${JSON.stringify(shardCount)}` : String(shardCount);
    throw new KeywayError('BAD_ARGUMENT', `shard count must be an integer >= 1, got ${got}`, { field: 'shardCount' });
  }
}

/**
 * Hash contract 1 over a key given as bytes (a raw header value as Envoy hands it over, a `-bin`
 * gRPC metadata value): the hash-tag rule on the bytes, then murmur3 of them, with no decode and
 * re-encode that would change bytes which are not UTF-8 (Latin-1, a leading BOM), as keyway's Lua
 * filter reads them. For UTF-8 bytes this is `keyToShard` of the string. `shardCount` as there, refused alike.
 */
export function keyBytesToShard(key: Uint8Array, shardCount: number): number {
  checkShardCount(shardCount);
  // `{` and `}` are ASCII, never inside a multi-byte sequence: the tag rule reads bytes alike.
  const open = key.indexOf(0x7b);
  const close = open < 0 ? -1 : key.indexOf(0x7d, open + 1);
  const tag = close > open + 1 ? key.subarray(open + 1, close) : key;
  return murmur3Range(tag, tag.length, 0) % shardCount;
}
