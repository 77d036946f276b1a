/**
 * Choosing between the incremental and the full shard-map computation (docs/hashing.md
 * "Incremental updates": incremental on one endpoint's change, always equal to a full recompute).
 */
import { type Endpoint, sameEndpoint } from '../core/endpoint.js';
import type { ShardingPolicy } from '../core/policy.js';
import { applyEndpointChange, computeShardMap } from './index.js';
import { incrementalWork } from './incremental.js';
import type { EndpointChange, ShardMap } from '../core/shard-map.js';
import { checkWorkBudget } from './validate.js';

/**
 * The shard map for `endpoints` under `policy`, reusing `previous`: the same map when nothing
 * relevant changed, one incremental step when exactly one endpoint was added, removed or changed
 * under the same policy, a full computation otherwise.
 * @throws KeywayError DUPLICATE_ENDPOINT / BAD_ARGUMENT / BUDGET_EXCEEDED from the sharding stage.
 */
export function nextShardMap(
  previous: ShardMap | undefined,
  endpoints: readonly Endpoint[],
  policy: ShardingPolicy,
): { map: ShardMap; mode: 'unchanged' | 'incremental' | 'full' } {
  const step = planShardMap(previous, endpoints, policy);
  return step.mode === 'full' ? { map: computeShardMap(endpoints, policy), mode: 'full' } : step;
}

/**
 * Most rendezvous scores an incremental step computes on the caller's thread (about 120 ms on the
 * 2-core test machine); a step costing more is a full computation for the caller to place.
 */
export const MAX_INLINE_INCREMENTAL_WORK = 1 << 22;

/**
 * nextShardMap without its full computation, which the caller runs (inline or in a worker, see
 * owner-slots.ts): the map when it is unchanged or one incremental step away, else `full`. A step
 * that would score more than MAX_INLINE_INCREMENTAL_WORK pairs on this thread is `full` too.
 * @throws KeywayError BUDGET_EXCEEDED past the work budget (docs/security.md "Work budget"),
 * whatever the mode, so an endpoint added one at a time cannot grow a map past it.
 */
export function planShardMap(
  previous: ShardMap | undefined,
  endpoints: readonly Endpoint[],
  policy: ShardingPolicy,
): { map: ShardMap; mode: 'unchanged' | 'incremental' } | { mode: 'full' } {
  checkWorkBudget(policy, endpoints.length);
  if (!previous || !samePolicy(previous.policy, policy)) return { mode: 'full' };
  const changes = endpointChanges(previous.endpoints, endpoints);
  if (changes === undefined || changes.length > 1) return { mode: 'full' };
  const [only] = changes;
  if (only === undefined) return { map: previous, mode: 'unchanged' };
  // An endpoint that owned most shards (a dominant weight going to 0 or not ready), or an outgrown
  // intern table, costs a full computation: left to the caller, who runs it off the event loop.
  if (incrementalWork(previous, only) > MAX_INLINE_INCREMENTAL_WORK) return { mode: 'full' };
  return { map: applyEndpointChange(previous, only), mode: 'incremental' };
}

/**
 * The per-endpoint changes that turn `before` into `after`, by identity. Undefined when `after`
 * repeats an identity (the full computation then reports the duplicate).
 */
export function endpointChanges(before: readonly Endpoint[], after: readonly Endpoint[]): EndpointChange[] | undefined {
  const old = new Map(before.map((e) => [e.id, e]));
  const seen = new Set<string>();
  const changes: EndpointChange[] = [];
  for (const e of after) {
    if (seen.has(e.id)) return undefined;
    seen.add(e.id);
    const was = old.get(e.id);
    if (!was || !sameEndpoint(was, e)) changes.push({ kind: 'upsert', endpoint: e });
  }
  for (const id of old.keys()) if (!seen.has(id)) changes.push({ kind: 'remove', id });
  return changes;
}

function samePolicy(a: ShardingPolicy, b: ShardingPolicy): boolean {
  return a.shardCount === b.shardCount && a.replicas === b.replicas && a.spread === b.spread;
}

