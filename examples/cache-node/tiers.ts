/**
 * The node's three tiers, as a GPU inference cache has them: L1 (GPU memory, small), L2 (node RAM,
 * larger), L3 (the shared store: always has the value, at a cost). L3 is simulated unless a `read`
 * is given: the value of a key is derived from the key alone, so every node returns the same bytes
 * for the same key.
 *
 * Concurrent misses of one key share one L3 read: a hot key that leaves L2, or a shard that just
 * moved here, otherwise sends one store read per waiting request at once. A read that fails is not
 * kept (the next miss reads again), and one that passes `storeTimeoutMs` fails its waiters and is
 * let go, so a hung read does not hold the key.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { LruCache } from './lru.js';

export type Tier = 'l1' | 'l2' | 'l3';

export interface Lookup {
  readonly tier: Tier;
  readonly result: 'hit' | 'miss';
}

export interface TierResult {
  readonly value: string;
  /** The tier that answered. */
  readonly tier: Tier;
  /** Every tier consulted, in order (l1 miss, l2 miss, l3 hit). */
  readonly lookups: readonly Lookup[];
}

export interface TieredCacheOptions {
  readonly l1Capacity: number;
  readonly l2Capacity: number;
  /** Artificial cost of an L3 read in milliseconds (a network round trip to the shared store). */
  readonly l3DelayMs: number;
  /** Clock of both tiers' recency, in ms (default `performance.now()`; tests set their own). */
  readonly now?: () => number;
  /**
   * Reads a key from the shared store (default: the simulated store after `l3DelayMs`). `signal`
   * aborts when the read passes `storeTimeoutMs`.
   */
  readonly read?: (key: string, signal: AbortSignal) => Promise<string>;
  /**
   * Bound on one L3 read, ms: past it the read's waiters fail. Default DEFAULT_STORE_TIMEOUT_MS
   * with a `read`; none for the simulated store, which cannot hang (its delay is `l3DelayMs`).
   */
  readonly storeTimeoutMs?: number;
}

/** How long an L3 read may take before its waiters fail with STORE_TIMEOUT, unless told otherwise. */
export const DEFAULT_STORE_TIMEOUT_MS = 5_000;

/** An L3 read that failed (`STORE_FAILED`) or passed its bound (`STORE_TIMEOUT`): not the client's fault. */
export class StoreReadError extends Error {
  constructor(
    readonly code: 'STORE_FAILED' | 'STORE_TIMEOUT',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreReadError';
  }
}

/** The value the simulated shared store holds for `key`: deterministic across nodes and runs. */
export function storeValue(key: string): string {
  return `v1:${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32)}`;
}

export class TieredCache {
  readonly l1: LruCache<string, string>;
  readonly l2: LruCache<string, string>;
  readonly #read: (key: string, signal: AbortSignal) => Promise<string>;
  readonly #storeTimeoutMs: number | undefined;
  /** The L3 read under way per key: concurrent misses of the key wait on it instead of reading again. */
  readonly #reading = new Map<string, Promise<string>>();
  /**
   * The shard each L1 entry was last requested under, where the request named one. A request's
   * shard is its `x-cache-shard` (what the proxy routed on), and the key it is cached under may be
   * the request's path, which hashes elsewhere: a warm-up answer and the L1 sweep that picked
   * entries by the key's hash handed off and moved to L2 the wrong entries.
   */
  readonly #l1Shard = new Map<string, number>();

  constructor(opts: TieredCacheOptions) {
    this.l1 = new LruCache(opts.l1Capacity, opts.now, (key) => this.#l1Shard.delete(key));
    this.l2 = new LruCache(opts.l2Capacity, opts.now);
    const delayMs = opts.l3DelayMs;
    this.#read = opts.read ?? (async (key) => {
      if (delayMs > 0) await sleep(delayMs);
      return storeValue(key);
    });
    this.#storeTimeoutMs = opts.storeTimeoutMs ?? (opts.read ? DEFAULT_STORE_TIMEOUT_MS : undefined);
    const t = this.#storeTimeoutMs;
    // A timer's delay is a signed 32-bit ms count: past it Node fires at once (every read would time out).
    if (t !== undefined && (!Number.isSafeInteger(t) || t < 1 || t > 2_147_483_647)) {
      throw new RangeError(`the store timeout must be an integer in 1..2147483647 ms, got ${t}`);
    }
  }

  /** L3 reads under way (one per key however many requests wait on it). */
  get storeReadsInFlight(): number {
    return this.#reading.size;
  }

  /** The shard of an L1 entry: the one it was last requested under, else its key's by contract 1. */
  l1ShardOf(key: string, shardCount: number): number {
    return this.#l1Shard.get(key) ?? keyToShard(key, shardCount);
  }

  /**
   * Reads `key` through the tiers, filling the faster tiers on the way back. `admitToL1` false keeps
   * the value out of L1: GPU memory is kept for the shards this node owns, so a misrouted request
   * does not evict an owned key. A function is asked when the value is admitted, after the L3 read:
   * the node's ownership may change while it waits, and the sweep of a shard it just lost has run
   * by then. `shard` is the request's shard when known: an L1 entry is filed under the last one it
   * was requested under.
   */
  async get(key: string, admitToL1: boolean | (() => boolean), shard?: number): Promise<TierResult> {
    const admits = (): boolean => (typeof admitToL1 === 'function' ? admitToL1() : admitToL1);
    const fromL1 = this.l1.get(key);
    if (fromL1 !== undefined) {
      this.#file(key, shard);
      return { value: fromL1, tier: 'l1', lookups: [{ tier: 'l1', result: 'hit' }] };
    }
    const fromL2 = this.l2.get(key);
    if (fromL2 !== undefined) {
      if (admits()) this.#admit(key, fromL2, shard);
      return { value: fromL2, tier: 'l2', lookups: [{ tier: 'l1', result: 'miss' }, { tier: 'l2', result: 'hit' }] };
    }
    const value = await this.#readStore(key);
    if (admits()) this.#admit(key, value, shard);
    return {
      value,
      tier: 'l3',
      lookups: [
        { tier: 'l1', result: 'miss' },
        { tier: 'l2', result: 'miss' },
        { tier: 'l3', result: 'hit' },
      ],
    };
  }

  /**
   * The key's L3 read, shared with every miss of the key while it runs; the value goes to L2 once.
   * @throws StoreReadError when the read fails or passes the bound (nothing is kept: the next miss reads again)
   */
  #readStore(key: string): Promise<string> {
    const under = this.#reading.get(key);
    if (under) return under;
    const read = this.#readBounded(key).then((value) => {
      this.l2.set(key, value);
      return value;
    });
    this.#reading.set(key, read);
    const done = (): void => void this.#reading.delete(key);
    read.then(done, done);
    return read;
  }

  async #readBounded(key: string): Promise<string> {
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      const read = this.#read(key, abort.signal);
      const limitMs = this.#storeTimeoutMs;
      if (limitMs === undefined) return await read;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new StoreReadError('STORE_TIMEOUT', `the shared store did not answer for key ${quoteKey(key)} within ${limitMs} ms`);
          abort.abort(err);
          reject(err);
        }, limitMs);
      });
      return await Promise.race([read, timedOut]);
    } catch (err) {
      if (err instanceof StoreReadError) throw err;
      throw new StoreReadError('STORE_FAILED', `the shared store failed for key ${quoteKey(key)}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  #admit(key: string, value: string, shard: number | undefined): void {
    this.l1.set(key, value);
    if (this.l1.has(key)) this.#file(key, shard);
  }

  #file(key: string, shard: number | undefined): void {
    if (shard === undefined) this.#l1Shard.delete(key);
    else this.#l1Shard.set(key, shard);
  }
}

/** A key in an error message: at most 200 characters of it (keys reach 16 KiB). */
function quoteKey(key: string): string {
  return JSON.stringify(key.length <= 200 ? key : `${key.slice(0, 200)}...`);
}
