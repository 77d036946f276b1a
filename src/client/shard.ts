/**
 * Hash contract 1 for applications (docs/clients.md): the shard of a key, and the request headers
 * that carry it to the proxy. The hashing is sharding's `keyToShard` and `keyBytesToShard`, not a copy.
 */
import { KeywayError } from '../core/errors.js';
import { hashTag, keyBytesToShard, keyToShard } from '../sharding/key-to-shard.js';

export { hashTag };

/**
 * A cache key: a string, hashed as its UTF-8 bytes, or bytes (a Buffer or Uint8Array, such as a
 * key a Redis client returns), hashed as they are, as keyway's data planes hash a key that arrives
 * as bytes (docs/hashing.md): bytes that are not UTF-8 are not decoded first.
 */
export type CacheKey = string | Uint8Array;

/** The header (HTTP) or metadata key (gRPC) the proxy routes on: the shard number in decimal. */
export const SHARD_HEADER = 'x-cache-shard';
/** The header that carries the key itself, for a proxy that computes the shard. */
export const KEY_HEADER = 'x-cache-key';

/**
 * The shard of `key`: murmur3_x86_32 (seed 0) of the UTF-8 bytes of its `{tag}` (of the bytes
 * themselves for a key given as bytes), unsigned, mod `shardCount` (docs/hashing.md, contract 1).
 * @throws KeywayError BAD_ARGUMENT unless shardCount is an integer >= 1, or for a key that is
 *   neither a string nor a Uint8Array
 */
export function shardFor(key: CacheKey, shardCount: number): number {
  if (typeof key === 'string') return keyToShard(key, shardCount);
  // Not any ArrayBufferView: a Uint16Array's elements are not its bytes.
  if (key instanceof Uint8Array) return keyBytesToShard(key, shardCount);
  const got = key === null ? 'null' : Array.isArray(key) ? 'an array' : ArrayBuffer.isView(key) ? (key as object).constructor.name : typeof key;
  throw new KeywayError('BAD_ARGUMENT', `key must be a string or bytes (a Buffer or Uint8Array), got ${got}`, { field: 'key' });
}

export interface ShardHeaderOptions {
  /**
   * Also send the key in `x-cache-key`. A header value is bytes, not text, so the key must then be
   * printable ASCII (0x20 to 0x7e), not starting or ending with a space (HTTP drops white space at
   * either end of a value); anything else is a BAD_ARGUMENT rather than a key silently changed.
   */
  readonly includeKey?: boolean;
}

/** `{ 'x-cache-shard': '<shard>' }` (and `x-cache-key` with `includeKey`), for fetch, undici or node:http. */
export function shardHeaders(key: CacheKey, shardCount: number, opts: ShardHeaderOptions = {}): Record<string, string> {
  const headers: Record<string, string> = { [SHARD_HEADER]: String(shardFor(key, shardCount)) };
  if (opts.includeKey) {
    if (typeof key !== 'string') {
      throw new KeywayError('BAD_ARGUMENT', 'a key given as bytes cannot be sent with includeKey: pass it as a string of printable ASCII', { field: KEY_HEADER });
    }
    if (!/^[\x20-\x7e]*$/.test(key)) {
      throw new KeywayError('BAD_ARGUMENT', `key ${JSON.stringify(key)} cannot be sent as a header value: only printable ASCII can`, {
        field: KEY_HEADER,
      });
    }
    // The proxy would receive the key without them and hash another key than this shard's.
    if (key.startsWith(' ') || key.endsWith(' ')) {
      throw new KeywayError('BAD_ARGUMENT', `key ${JSON.stringify(key)} cannot be sent as a header value: HTTP drops the space at its start or end`, {
        field: KEY_HEADER,
      });
    }
    headers[KEY_HEADER] = key;
  }
  return headers;
}

/**
 * A copy of `init` whose headers also carry `x-cache-shard` for `key` (and `x-cache-key` with
 * `includeKey`). Headers already in `init` are kept, except those two, which are replaced.
 *
 * ```ts
 * await fetch(url, withShardHeader({ method: 'GET' }, 'user:42', 1024));
 * ```
 */
export function withShardHeader(init: RequestInit | undefined, key: CacheKey, shardCount: number, opts: ShardHeaderOptions = {}): RequestInit {
  const headers = new Headers(init?.headers);
  for (const [name, value] of Object.entries(shardHeaders(key, shardCount, opts))) headers.set(name, value);
  return { ...init, headers };
}
