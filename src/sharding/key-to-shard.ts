/**
 * Hash contract 1 (DESIGN.md, docs/hashing.md): key to shard.
 * shard = murmur3_x86_32(utf8(hashTag(key)), seed 0) mod S, unsigned.
 */
import { KeywayError } from '../errors.js';
import { murmur3Range } from './murmur3.js';

const encoder = new TextEncoder();
// Reused encode buffer: keyToShard is called per request by the REST lookup and SDK tests.
let scratch = new Uint8Array(256);

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

/** UTF-8 bytes of `s` into the shared scratch buffer (lone surrogates become U+FFFD, as TextEncoder does). */
function encodeScratch(s: string): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  if (scratch.length < s.length * 3) scratch = new Uint8Array(Math.max(s.length * 3, scratch.length * 2));
  return encoder.encodeInto(s, scratch).written;
}

/**
 * The shard of a cache key (hash contract 1): MurmurHash3 x86_32, seed 0, over the UTF-8 bytes of
 * `hashTag(key)`, unsigned, modulo `shardCount`. Throws BAD_ARGUMENT unless shardCount is an integer >= 1.
 */
export function keyToShard(key: string, shardCount: number): number {
  if (!Number.isSafeInteger(shardCount) || shardCount < 1) {
    throw new KeywayError('BAD_ARGUMENT', `shard count must be an integer >= 1, got ${String(shardCount)}`, {
      field: 'shardCount',
    });
  }
  const tag = hashTag(key);
  const length = encodeScratch(tag);
  return murmur3Range(scratch, length, 0) % shardCount;
}
