/**
 * A full shard-map computation split in two, so its O(S x N) part can run in another thread
 * (docs/security.md "Work budget"): computeOwnerSlots fills the owner columns from the endpoints
 * alone and returns only typed arrays (transferred between threads without a copy), and
 * shardMapFromSlots builds the map around them. Together they give the map computeShardMap gives,
 * bookkeeping for incremental updates included. Pure: the thread itself is the caller's business.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { ShardingPolicy } from '../core/policy.js';
import type { ShardMap } from '../core/shard-map.js';
import { computeOwnerColumns, finishShardMap, NO_OWNERS } from './compute.js';
import { buildEligibleSet } from './eligible-set.js';
import { shardSteps } from './rendezvous-score.js';
import type { OwnerColumns } from './shard-map-state.js';

/** Every shard's owners as typed arrays: slot shard * R + j describes owners[shard][j]. */
export interface OwnerSlots {
  /** Owners of each shard (at most R <= 255). */
  readonly ownerCount: Uint8Array;
  /** The owner's interned id (the eligible set's `handle`). */
  readonly ownerHandle: Int32Array;
  readonly ownerScore: Float64Array;
  readonly ownerPass: Uint8Array;
  readonly ownerZone: Int32Array;
  readonly ownerFabric: Int32Array;
}

/**
 * The O(S x N) part of computeShardMap, for endpoints already checked and sorted
 * (prepareShardMapInput): runs in a worker thread.
 */
export function computeOwnerSlots(sorted: readonly Endpoint[], policy: ShardingPolicy): OwnerSlots {
  const eligible = buildEligibleSet(sorted);
  const cols = computeOwnerColumns(policy, eligible, shardSteps(policy.shardCount));
  const ownerCount = new Uint8Array(policy.shardCount);
  cols.owners.forEach((owners, s) => (ownerCount[s] = owners.length));
  const { ownerHandle, ownerScore, ownerPass, ownerZone, ownerFabric } = cols;
  return { ownerCount, ownerHandle, ownerScore, ownerPass, ownerZone, ownerFabric };
}

/** The buffers of `slots`, to transfer rather than copy them to another thread. */
export function ownerSlotBuffers(slots: OwnerSlots): ArrayBuffer[] {
  const { ownerCount, ownerHandle, ownerScore, ownerPass, ownerZone, ownerFabric } = slots;
  return [ownerCount, ownerHandle, ownerScore, ownerPass, ownerZone, ownerFabric].map((a) => a.buffer as ArrayBuffer);
}

/**
 * The shard map for `sorted` under `policy` whose owners are `slots` (computed by computeOwnerSlots
 * from the same input): O(S x R + N), what is left for the event loop.
 * @throws Error when the slots do not fit the policy or the endpoints (a bug, not an input error).
 */
export function shardMapFromSlots(sorted: readonly Endpoint[], policy: ShardingPolicy, slots: OwnerSlots): ShardMap {
  const S = policy.shardCount;
  const R = policy.replicas;
  const eligible = buildEligibleSet(sorted);
  const lengths = [slots.ownerHandle, slots.ownerScore, slots.ownerPass, slots.ownerZone, slots.ownerFabric].map((a) => a.length);
  if (slots.ownerCount.length !== S || lengths.some((l) => l !== S * R)) {
    throw new Error(`owner slots of ${slots.ownerCount.length} shards do not fit S = ${S}, R = ${R}`);
  }
  // A fresh table interns ids in eligible order on both threads; the lookup checks it anyway.
  const idOfHandle = new Map<number, string>();
  for (let i = 0; i < eligible.n; i++) idOfHandle.set(eligible.handle[i] as number, eligible.ids[i] as string);
  const owners = new Array<readonly string[]>(S);
  for (let s = 0; s < S; s++) {
    const count = slots.ownerCount[s] as number;
    if (count === 0 && eligible.n === 0) {
      owners[s] = NO_OWNERS;
      continue;
    }
    const list = new Array<string>(count);
    for (let j = 0; j < count; j++) {
      const id = idOfHandle.get(slots.ownerHandle[s * R + j] as number);
      if (id === undefined) throw new Error(`owner slot ${s * R + j} names no eligible endpoint`);
      list[j] = id;
    }
    owners[s] = list;
  }
  const { ownerHandle, ownerScore, ownerPass, ownerZone, ownerFabric } = slots;
  const cols: OwnerColumns = { owners, ownerHandle, ownerScore, ownerPass, ownerZone, ownerFabric };
  return finishShardMap(sorted, policy, eligible, shardSteps(S), cols);
}
