/** Full computation of a shard map (docs/architecture.md "The pipeline", sharding; hash contract 2). */
import type { Endpoint } from '../core/endpoint.js';
import { compareStrings } from '../core/order.js';
import type { ShardingPolicy } from '../core/policy.js';
import { KeywayError } from '../core/errors.js';
import { buildEligibleSet, type EligibleSet, localityCounts } from './eligible-set.js';
import { type ShardSteps, shardSteps } from './rendezvous-score.js';
import { canonicalEndpoint, remember, ShardComputer, type OwnerColumns, warningsFor } from './shard-map-state.js';
import type { ShardMap } from '../core/shard-map.js';
import { checkWorkBudget, normalizeEndpoint, validateEndpoint, validatePolicy } from './validate.js';
import { shardMapVersion } from './version.js';

function normalizePolicy(policy: ShardingPolicy): ShardingPolicy {
  return Object.freeze({ shardCount: policy.shardCount, replicas: policy.replicas, spread: policy.spread });
}

/**
 * Assigns every shard in [0, S) its owners by weighted rendezvous hashing (hash contract 2) with the
 * policy's R and spread. Not-ready and weight-0 endpoints own nothing but stay in `endpoints`.
 * Throws KeywayError DUPLICATE_ENDPOINT for two endpoints with one id and BAD_ARGUMENT for S < 1,
 * R < 1, an unknown spread, a bad id or a negative or non-finite weight, and BUDGET_EXCEEDED past the
 * work budget (docs/security.md "Work budget"). Cost O(S x N).
 */
export function computeShardMap(endpoints: readonly Endpoint[], policy: ShardingPolicy): ShardMap {
  const prepared = prepareShardMapInput(endpoints, policy);
  return buildShardMap(prepared.sorted, prepared.policy);
}

/**
 * The checks and the ordering every full computation starts with, inline or off the event loop:
 * the typed errors computeShardMap promises (including BUDGET_EXCEEDED), then the endpoints
 * normalized and sorted by id.
 */
export function prepareShardMapInput(
  endpoints: readonly Endpoint[],
  policy: ShardingPolicy,
): { readonly sorted: readonly Endpoint[]; readonly policy: ShardingPolicy } {
  validatePolicy(policy);
  checkWorkBudget(policy, endpoints.length);
  const seen = new Map<string, number>();
  endpoints.forEach((e, i) => {
    validateEndpoint(e, `endpoints[${i}]`);
    const first = seen.get(e.id);
    if (first !== undefined) {
      throw new KeywayError('DUPLICATE_ENDPOINT', `endpoint id ${e.id} is used by endpoints[${first}] and endpoints[${i}]`, {
        field: `endpoints[${i}].id`,
      });
    }
    seen.set(e.id, i);
  });
  const sorted = endpoints.map(normalizeEndpoint).sort((a, b) => compareStrings(a.id, b.id));
  return { sorted, policy: normalizePolicy(policy) };
}

/** Builds a map from validated, normalized endpoints sorted by id. */
export function buildShardMap(sorted: readonly Endpoint[], policy: ShardingPolicy): ShardMap {
  const eligible = buildEligibleSet(sorted);
  const steps = shardSteps(policy.shardCount);
  return finishShardMap(sorted, policy, eligible, steps, computeOwnerColumns(policy, eligible, steps));
}

/** The O(S x N) part of a full computation: every shard's owners, by rendezvous over `eligible`. */
export function computeOwnerColumns(policy: ShardingPolicy, eligible: EligibleSet, steps: ShardSteps): OwnerColumns {
  const S = policy.shardCount;
  const R = policy.replicas;
  const cols: OwnerColumns = {
    owners: new Array<readonly string[]>(S),
    ownerScore: new Float64Array(S * R),
    ownerPass: new Uint8Array(S * R),
    ownerZone: new Int32Array(S * R),
    ownerFabric: new Int32Array(S * R),
    ownerHandle: new Int32Array(S * R),
  };
  if (eligible.n === 0) {
    cols.owners.fill(NO_OWNERS);
  } else {
    const computer = new ShardComputer(policy, steps, eligible);
    for (let s = 0; s < S; s++) computer.compute(s, cols);
  }
  return cols;
}

/** The owner list of every shard when no endpoint is eligible (one shared frozen array). */
export const NO_OWNERS: readonly string[] = Object.freeze([]);

/** The map around computed owner columns: version, warnings and the bookkeeping for incremental updates. */
export function finishShardMap(
  sorted: readonly Endpoint[],
  policy: ShardingPolicy,
  eligible: EligibleSet,
  steps: ShardSteps,
  cols: OwnerColumns,
): ShardMap {
  const canonical = sorted.map(canonicalEndpoint);
  const map: ShardMap = {
    version: shardMapVersion(policy, canonical),
    policy,
    endpoints: sorted,
    owners: cols.owners,
    warnings: warningsFor(policy, sorted.length, eligible.n, localityCounts(eligible)),
  };
  return remember(map, { steps, eligible, canonical, ...cols });
}
