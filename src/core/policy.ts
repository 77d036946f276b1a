/** Shard-assignment settings of a deployment (docs/architecture.md "Vocabulary": S, R and the replica-spread policy). */

/**
 * Replica spread: `zone` puts a shard's owners in distinct zones, `subzone` in distinct NVLink
 * fabrics; each falls back to the next level (zone, then subzone, then any) when too few exist.
 */
export type SpreadPolicy = 'none' | 'zone' | 'subzone';
export const SPREAD_POLICIES: readonly SpreadPolicy[] = ['none', 'zone', 'subzone'];

export interface ShardingPolicy {
  /** S: shards are integers in [0, S). Fixed for a deployment. */
  readonly shardCount: number;
  /** R: owners per shard, the first being the primary. */
  readonly replicas: number;
  readonly spread: SpreadPolicy;
}
