/**
 * Failover inside a node's cluster without `previous_priorities` (an experiment, not in the
 * translator; docs/benchmarks.md "Failover inside the node's cluster", the ring walk): the cluster
 * load-balances by RING_HASH over at most RING_POINTS points. Priority 0 holds a catcher (one of
 * the node's backups) with weight 1, listed first, and the node with weight RING_PRIMARY_WEIGHT,
 * so Envoy's ring gives the catcher one point and the node the other RING_POINTS - 1. Envoy names
 * a host's i-th point `<envoy.lb hash_key>_<i>` and places it at its xxHash64; the catcher's key
 * was searched offline (`catcher-<n>` for n = 0, 1, ...) until its point fell within 2^33 past one
 * of the node's, which this module checks when it loads. A request without a hash policy draws a
 * random point and lands on the node but for one request in 2.5e9, and a retry whose
 * `previous_hosts` predicate refuses the node walks the ring point by point to the catcher.
 * Priority health weighted by host weight (`weighted_priority_health`): once the node is marked
 * failed, priority 0 keeps 1 / (W + 1) of its load and the rest goes to the backups at priority 1,
 * the catcher among them (these clusters are static, which keeps both copies of an address; EDS
 * would keep the first).
 */
import { xx64 } from '../hitrate/envoy-hash-placement.js';

type Json = Record<string, unknown>;

export const RING_POINTS = 16;
export const RING_PRIMARY_KEY = 'keyway-primary';
export const RING_CATCHER_KEY = 'catcher-244191607';
export const RING_PRIMARY_WEIGHT = 1_000_000;

/** How far (of 2^64) the catcher's point lies past the nearest of the node's points before it. */
export function catcherGap(): bigint {
  const catcher = xx64(`${RING_CATCHER_KEY}_0`);
  const gaps = Array.from({ length: RING_POINTS - 1 }, (_, i) => catcher - xx64(`${RING_PRIMARY_KEY}_${i}`)).filter((g) => g > 0n);
  return gaps.reduce((a, b) => (b < a ? b : a), 1n << 64n);
}
if (catcherGap() >= 1n << 33n) throw new Error(`ring-failover: the catcher's point is ${catcherGap()} past the node's, not within 2^33: the keys no longer fit`);

const keyed = (endpoint: Json, key: string, weight: number): Json => ({ ...endpoint, load_balancing_weight: weight, metadata: { filter_metadata: { 'envoy.lb': { hash_key: key } } } });

/** A node cluster's load assignment for the ring walk: `backups[0]` is the catcher. */
export function ringAssignment(name: string, primary: Json, backups: readonly Json[], backupKey: (i: number) => string): Json {
  return {
    cluster_name: name,
    endpoints: [
      { lb_endpoints: [keyed(backups[0]!, RING_CATCHER_KEY, 1), keyed(primary, RING_PRIMARY_KEY, RING_PRIMARY_WEIGHT)] },
      { priority: 1, lb_endpoints: backups.map((b, i) => keyed(b, backupKey(i), 1)) },
    ],
    policy: { weighted_priority_health: true },
  };
}

/** The cluster fields of the ring walk. */
export const RING_CLUSTER: Json = { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 1, maximum_ring_size: RING_POINTS } };

/** A retry's host predicate (bootstrap JSON) that refuses the hosts the request already tried. */
export const PREVIOUS_HOSTS: Json = { name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } };

/** The retry's part (bootstrap JSON, snake_case): no retry priority, a walk of up to RING_POINTS hosts. */
export function ringRetry(policy: Json): void {
  delete policy.retry_priority;
  delete policy.retryPriority;
  policy.retry_host_predicate = [PREVIOUS_HOSTS];
  policy.host_selection_retry_max_attempts = String(RING_POINTS);
}
