/**
 * The sharding stage (docs/architecture.md "The pipeline", sharding): key to shard (hash contract 1), shard to owners
 * by weighted rendezvous hashing (hash contract 2), incremental updates and diffs. Pure functions.
 * docs/hashing.md specifies both contracts for other languages.
 */
export { keyToShard, keyBytesToShard, hashTag, checkShardCount } from './key-to-shard.js';
export { murmur3x86_32 } from './murmur3.js';
export { computeShardMap, prepareShardMapInput, buildShardMap } from './compute.js';
export { computeOwnerSlots, ownerSlotBuffers, shardMapFromSlots, type OwnerSlots } from './owner-slots.js';
export { applyEndpointChange } from './incremental.js';
export { nextShardMap, planShardMap, endpointChanges } from './next-map.js';
export { diffShardMaps, ownersOf, endpointShares } from './queries.js';
export { decideHotShards, applyHotShards, hotShardChanges, heldWindows, modelledLoadRatios, NO_HOT_SHARDS } from './hot-shards.js';
export { HotShardDecider } from './hot-shard-decider.js';
export { rendezvousScore, rendezvousU, rendezvousZ, endpointKey, u64Hex, type U64 } from './rendezvous-score.js';
export { ln as lnFdlibm } from './ln.js';
export { ALGORITHM_ID } from './version.js';
export { MAX_SHARD_COUNT, MAX_REPLICAS, MAX_ENDPOINTS, MAX_OWNER_SLOTS, MAX_SHARD_WORK } from '../core/limits.js';
export * from '../core/shard-map.js';
