/**
 * The shard map's content-derived version (docs/architecture.md "Vocabulary": shard map; docs/hashing.md "Shard map version"): the
 * same endpoints and policy give the same version in any order, process or replica, so proxies see
 * no churn after a restart.
 */
import { createHash } from 'node:crypto';
import type { ShardingPolicy } from '../core/policy.js';

/** Names the hash contracts; a change of algorithm must change every version. */
export const ALGORITHM_ID = 'keyway-rendezvous-v1';

/**
 * First 16 hex digits of SHA-256 over the UTF-8 JSON text
 * `["keyway-rendezvous-v1",S,R,spread,[endpoint,...]]`, endpoints sorted by id, each encoded by
 * `canonicalEndpoint` (given here already encoded, in id order).
 */
export function shardMapVersion(policy: ShardingPolicy, canonicalEndpoints: readonly string[]): string {
  const head = JSON.stringify([ALGORITHM_ID, policy.shardCount, policy.replicas, policy.spread]).slice(0, -1);
  return createHash('sha256')
    .update(`${head},[${canonicalEndpoints.join(',')}]]`)
    .digest('hex')
    .slice(0, 16);
}
