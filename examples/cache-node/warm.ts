/**
 * Warm handoff between cache nodes (docs/ownership.md, docs/observability.md "The example cache
 * node"). A node that gains a shard (phase WARMING) copies the shard's hot entries from the nodes
 * that serve it now, before keyway routes the shard to it:
 *
 * - the serving side answers `GET /v1/warm?shard=N[&limit=M]` with the L1 entries whose key hashes
 *   (contract 1, under the node's S) to shard N, most recently used first, at most M of them, each
 *   with how long ago it was last used: `{node, shard, entries: [[key, value, idleMs], ...]}`;
 * - the warming side asks the serving owners in order (primary first), takes the first answer,
 *   files it into L1 by recency among its own entries (an entry idle for 2 s goes behind its own
 *   entries used in the last 2 s, not in front of them) and into L2 least recent first. An answer
 *   without ages (`[key, value]` pairs) goes in at the most recent end, in its order. When no peer
 *   answers there is nothing to copy: the shard fills from L2 and L3 as requests come.
 */
import { getJson } from './get-json.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import type { LruCache } from './lru.js';
import type { PeerNode } from './ownership.js';
import type { TieredCache } from './tiers.js';

/** Entries a `/v1/warm` answer holds unless the request asks for fewer (or more, up to the max). */
export const DEFAULT_WARM_LIMIT = 5_000;
/** The largest `limit` a `/v1/warm` request may ask for: bounds the body (about 100 bytes an entry). */
export const MAX_WARM_LIMIT = 100_000;
/** Bound on one peer's answer, so a peer that hangs moves the warm-up on to the next one. */
export const DEFAULT_WARM_FETCH_TIMEOUT_MS = 5_000;
/**
 * Largest `/v1/warm` answer read, bytes: MAX_WARM_LIMIT entries of a few hundred bytes fit many
 * times over; a peer sending more moves the warm-up on to the next one instead of filling memory.
 */
export const MAX_WARM_BODY_BYTES = 64 * 1024 * 1024;

/** One entry of a warm-up: key, value, and ms since its last use on the serving node (optional). */
export type WarmEntry = readonly [key: string, value: string, idleMs?: number];

/** The body of `GET /v1/warm`. */
export interface WarmBody {
  readonly node: string;
  readonly shard: number;
  readonly entries: readonly WarmEntry[];
}

/** A bad `/v1/warm` query: the client's error (400). */
export class BadWarmRequest extends Error {}

/**
 * Parses the query of `GET /v1/warm` against the node's shard count.
 * @throws BadWarmRequest naming the parameter when `shard` or `limit` is missing or out of range
 */
export function parseWarmQuery(params: URLSearchParams, shardCount: number): { shard: number; limit: number } {
  const shardText = params.get('shard');
  if (shardText === null || !/^[0-9]{1,10}$/.test(shardText)) throw new BadWarmRequest(`shard must be a non-negative integer, got ${JSON.stringify(shardText)}`);
  const shard = Number(shardText);
  if (shard >= shardCount) throw new BadWarmRequest(`shard ${shard} does not exist: shards are 0..${shardCount - 1}`);
  const limitText = params.get('limit');
  if (limitText === null) return { shard, limit: DEFAULT_WARM_LIMIT };
  const limit = Number(limitText);
  if (!/^[0-9]{1,10}$/.test(limitText) || limit < 1 || limit > MAX_WARM_LIMIT) {
    throw new BadWarmRequest(`limit must be an integer in 1..${MAX_WARM_LIMIT}, got ${JSON.stringify(limitText)}`);
  }
  return { shard, limit };
}

/**
 * L1 entries of `shard` (contract 1 under `shardCount`), most recently used first, at most `limit`,
 * each with its idle time in whole ms. Recency is not touched. With `shardOf` (the node's
 * {@link TieredCache.l1ShardOf}), an entry last requested under another shard is left out too: a
 * warming node takes only keys that hash to the shard, and an entry cached under its request's
 * path and routed by `x-cache-shard` may hash to a shard it was never requested under.
 */
export function shardEntries(
  l1: LruCache<string, string>,
  shard: number,
  shardCount: number,
  limit: number,
  shardOf?: (key: string, shardCount: number) => number,
): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  for (const [key, value, idleMs] of l1.newestFirst()) {
    if (out.length >= limit) break;
    if (keyToShard(key, shardCount) === shard && (shardOf === undefined || shardOf(key, shardCount) === shard)) out.push([key, value, Math.round(idleMs)]);
  }
  return out;
}

/**
 * Moves every L1 entry whose shard is in `shards` to L2, filed there by its last use in L1 (L2's
 * recency of a key L1 kept serving is stale): GPU memory goes back to the shards the node still
 * reads, and a late request for a moved entry still finds it in host memory. An entry's shard is
 * the one it was last requested under ({@link TieredCache.l1ShardOf}), not its key's hash: a key
 * cached under its request's path hashes elsewhere. Returns how many entries left L1.
 */
export function demoteShards(cache: TieredCache, shards: ReadonlySet<number>, shardCount: number): number {
  const leaving = [...cache.l1.newestFirst()].filter(([key]) => shards.has(cache.l1ShardOf(key, shardCount)));
  for (const [key] of leaving) {
    cache.l1.delete(key);
    cache.l2.delete(key);
  }
  cache.l2.insertByIdle(leaving.reverse()); // least recent first: entries idle alike keep their order
  return leaving.length;
}

/**
 * Asks one peer for a shard's entries. With `shardCount`, every key must hash to `shard` under it:
 * a peer that ignores `?shard=` (or counts shards otherwise) would fill L1 with keys of shards this
 * node does not own.
 * @throws Error when the peer does not answer 200 with a well-formed body of at most
 *   MAX_WARM_BODY_BYTES within `timeoutMs`, or on abort
 */
export function fetchWarmEntries(peer: PeerNode, shard: number, limit: number, signal: AbortSignal, timeoutMs = DEFAULT_WARM_FETCH_TIMEOUT_MS, shardCount?: number): Promise<WarmBody> {
  const host = peer.address.includes(':') ? `[${peer.address}]` : peer.address;
  const url = `http://${host}:${peer.port}/v1/warm?shard=${shard}&limit=${limit}`;
  return getJson(url, timeoutMs, signal, MAX_WARM_BODY_BYTES).then((body) => checkWarmBody(body, shard, url, shardCount));
}

function checkWarmBody(body: unknown, shard: number, url: string, shardCount: number | undefined): WarmBody {
  const b = body as Partial<WarmBody>;
  if (typeof b !== 'object' || b === null || b.shard !== shard || !Array.isArray(b.entries)) {
    throw new Error(`GET ${url}: the body is not {node, shard: ${shard}, entries}`);
  }
  for (const e of b.entries) {
    const wellFormed = Array.isArray(e) && (e.length === 2 || (e.length === 3 && typeof e[2] === 'number' && Number.isFinite(e[2]) && e[2] >= 0));
    if (!wellFormed || typeof e[0] !== 'string' || typeof e[1] !== 'string') {
      throw new Error(`GET ${url}: entries must be [key, value] or [key, value, idleMs] with string key and value and idleMs >= 0`);
    }
    if (shardCount !== undefined && keyToShard(e[0], shardCount) !== shard) {
      throw new Error(`GET ${url}: the answer holds a key of shard ${keyToShard(e[0], shardCount)} of ${shardCount}, not of shard ${shard}`);
    }
  }
  return b as WarmBody;
}

export interface WarmShardOptions {
  readonly shard: number;
  /** The owners serving the shard now, primary first. */
  readonly peers: readonly PeerNode[];
  readonly cache: TieredCache;
  /** Entries to ask for (the node asks for no more than its L1 holds). */
  readonly limit: number;
  readonly signal: AbortSignal;
  readonly fetchTimeoutMs?: number;
  /** The node's S: an answer holding a key of another shard is refused (the next peer is asked). */
  readonly shardCount?: number;
  /** One line per peer that failed (the warm-up moves on to the next). */
  readonly log?: (record: Record<string, unknown>) => void;
}

export interface WarmResult {
  /** Entries the warm-up added to L1 and L1 still holds (not those it already had, nor those too old to stay). */
  readonly imported: number;
  /** Entries the answering peer sent (0 when none answered, or it held none of the shard). */
  readonly offered: number;
  /** The peer that answered; undefined when none did (nothing to copy). */
  readonly from?: string;
}

/**
 * Copies a shard's hot entries from the first peer that answers with some, into L1 and L2. A peer
 * that holds none of the shard (it restarted, or keeps the shard only as a backup, out of L1)
 * passes the turn to the next: a later serving owner, such as a hot shard's other reader, may
 * hold them. When every peer answers empty there is nothing to copy (`from` is the first).
 * @throws the abort reason when `signal` aborts (the agent then reports nothing)
 */
export async function warmShard(opts: WarmShardOptions): Promise<WarmResult> {
  let emptyFrom: string | undefined;
  for (const peer of opts.peers) {
    opts.signal.throwIfAborted();
    let body: WarmBody;
    try {
      body = await fetchWarmEntries(peer, opts.shard, opts.limit, opts.signal, opts.fetchTimeoutMs, opts.shardCount);
    } catch (err) {
      opts.signal.throwIfAborted();
      opts.log?.({ msg: 'warm-up: a serving owner did not answer; trying the next', shard: opts.shard, peer: peer.id, err: (err as Error).message });
      continue;
    }
    opts.signal.throwIfAborted();
    // Least recent first: in L2 the peer's most recent entry ends most recent; in L1 equal ages keep that order.
    const entries = body.entries.slice(0, opts.limit).reverse();
    if (entries.length === 0) {
      emptyFrom ??= peer.id;
      continue;
    }
    for (const [key, value] of entries) opts.cache.l2.set(key, value);
    const imported = opts.cache.l1.insertByIdle(entries.map(([key, value, idleMs]) => [key, value, idleMs ?? 0] as const));
    return { imported, offered: entries.length, from: peer.id };
  }
  return { imported: 0, offered: 0, ...(emptyFrom !== undefined ? { from: emptyFrom } : {}) };
}
