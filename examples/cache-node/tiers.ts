/**
 * The node's three tiers, as a GPU inference cache has them: L1 (GPU memory, small), L2 (node RAM,
 * larger), L3 (the shared store: always has the value, at a cost). L3 is simulated: the value of a
 * key is derived from the key alone, so every node returns the same bytes for the same key.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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

  constructor(opts: TieredCacheOptions) {
    this.l1 = new LruCache(opts.l1Capacity, opts.now);
    this.l2 = new LruCache(opts.l2Capacity, opts.now);
    this.#l3DelayMs = opts.l3DelayMs;
  }

  /**
   * Reads `key` through the tiers, filling the faster tiers on the way back. `admitToL1` false keeps
   * the value out of L1: GPU memory is kept for the shards this node owns, so a misrouted request
   * does not evict an owned key.
   */
  async get(key: string, admitToL1: boolean): Promise<TierResult> {
    const fromL1 = this.l1.get(key);
    if (fromL1 !== undefined) return { value: fromL1, tier: 'l1', lookups: [{ tier: 'l1', result: 'hit' }] };
    const fromL2 = this.l2.get(key);
    if (fromL2 !== undefined) {
      if (admitToL1) this.l1.set(key, fromL2);
      return { value: fromL2, tier: 'l2', lookups: [{ tier: 'l1', result: 'miss' }, { tier: 'l2', result: 'hit' }] };
    }
    if (this.#l3DelayMs > 0) await sleep(this.#l3DelayMs);
    const value = storeValue(key);
    this.l2.set(key, value);
    if (admitToL1) this.l1.set(key, value);
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
}
