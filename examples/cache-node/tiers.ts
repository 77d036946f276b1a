/**
 * The node's three tiers, as a GPU inference cache has them: L1 (GPU memory, small), L2 (node RAM,
 * larger), L3 (the shared store: always has the value, at a cost). L3 is simulated: the value of a
 * key is derived from the key alone, so every node returns the same bytes for the same key.
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
}

/** The value the simulated shared store holds for `key`: deterministic across nodes and runs. */
export function storeValue(key: string): string {
  return `v1:${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32)}`;
}

export class TieredCache {
  readonly l1: LruCache<string, string>;
  readonly l2: LruCache<string, string>;
  readonly #l3DelayMs: number;
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
    this.#l3DelayMs = opts.l3DelayMs;
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
    if (this.#l3DelayMs > 0) await sleep(this.#l3DelayMs);
    const value = storeValue(key);
    this.l2.set(key, value);
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

  #admit(key: string, value: string, shard: number | undefined): void {
    this.l1.set(key, value);
    if (this.l1.has(key)) this.#file(key, shard);
  }

  #file(key: string, shard: number | undefined): void {
    if (shard === undefined) this.#l1Shard.delete(key);
    else this.#l1Shard.set(key, shard);
  }
}
