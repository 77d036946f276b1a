/**
 * Hash contract 1 for applications (docs/clients.md): the shard of a key, and the request headers
 * that carry it to the proxy. The hashing is sharding's `keyToShard`, not a copy.
 */
import { KeywayError } from '../core/errors.js';
import { hashTag, keyToShard } from '../sharding/key-to-shard.js';

export { hashTag };

/** The header (HTTP) or metadata key (gRPC) the proxy routes on: the shard number in decimal. */
export const SHARD_HEADER = 'x-cache-shard';
/** The header that carries the key itself, for a proxy that computes the shard. */
export const KEY_HEADER = 'x-cache-key';

/**
 * The shard of `key`: murmur3_x86_32 (seed 0) of the UTF-8 bytes of its `{tag}`, unsigned, mod
 * `shardCount` (docs/hashing.md, contract 1).
 * @throws KeywayError BAD_ARGUMENT unless shardCount is an integer >= 1
 */
export function shardFor(key: string, shardCount: number): number {
  return keyToShard(key, shardCount);
}

export interface ShardHeaderOptions {
  /**
   * Also send the key in `x-cache-key`. A header value is bytes, not text, so the key must then be
   * printable ASCII (0x20 to 0x7e); anything else is a BAD_ARGUMENT rather than a silent re-encoding.
   */
  readonly includeKey?: boolean;
}

/** `{ 'x-cache-shard': '<shard>' }` (and `x-cache-key` with `includeKey`), for fetch, undici or node:http. */
export function shardHeaders(key: string, shardCount: number, opts: ShardHeaderOptions = {}): Record<string, string> {
  const headers: Record<string, string> = { [SHARD_HEADER]: String(shardFor(key, shardCount)) };
  if (opts.includeKey) {
    if (!/^[\x20-\x7e]*$/.test(key)) {
      throw new KeywayError('BAD_ARGUMENT', `key ${JSON.stringify(key)} cannot be sent as a header value: only printable ASCII can`, {
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
export function withShardHeader(init: RequestInit | undefined, key: string, shardCount: number, opts: ShardHeaderOptions = {}): RequestInit {
  const headers = new Headers(init?.headers);
  for (const [name, value] of Object.entries(shardHeaders(key, shardCount, opts))) headers.set(name, value);
  return { ...init, headers };
}
