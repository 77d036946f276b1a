/**
 * Readiness of a cache node from its EndpointSlice conditions (contract: docs/kubernetes-discovery.md,
 * "Readiness"). A not-ready endpoint owns no shards.
 */
import type { V1EndpointConditions } from '@kubernetes/client-node';
import type { TerminatingPolicy } from './config.js';

/**
 * Whether an endpoint may own shards.
 *
 * - terminating (the slice says `terminating: true`, or the pod has a deletionTimestamp, whichever
 *   keyway sees first): with `release` never ready, even while `serving`, so its shards move to
 *   their replicas, which already hold them, at the start of the drain rather than at its end;
 *   with `while-serving` ready while `serving` (falling back to `ready` when serving is unset, and
 *   serving when both are unset).
 * - otherwise `ready` and `serving`; unset means unknown, which the EndpointSlice API says to
 *   treat as true. The EndpointSlice controller writes `serving` as the pod's Ready condition and
 *   `ready` as that too, except for a Service with publishNotReadyAddresses (a StatefulSet's
 *   headless Service often has it), where `ready` is always true: a pod failing its readiness
 *   probe must not own shards.
 */
export function endpointReady(
  conditions: V1EndpointConditions | undefined,
  podTerminating: boolean,
  policy: TerminatingPolicy,
): boolean {
  const terminating = conditions?.terminating === true || podTerminating;
  if (terminating) {
    if (policy === 'release') return false;
    // serving unset defers to ready; ready unset is unknown, which the API says to treat as ready
    // (endpointDraining reads it the same way).
    return (conditions?.serving ?? conditions?.ready ?? true) === true;
  }
  return (conditions?.ready ?? true) && (conditions?.serving ?? true);
}

/**
 * Whether a not-ready endpoint is a planned departure (docs/ownership.md "Planned departures"):
 * terminating yet still `serving` (falling back to `ready`), so its shards are handed off to
 * their new owners, warmed from it, before it goes. A pod that fails is not serving and moves at once.
 */
export function endpointDraining(conditions: V1EndpointConditions | undefined, podTerminating: boolean, ready: boolean): boolean {
  const terminating = conditions?.terminating === true || podTerminating;
  return !ready && terminating && (conditions?.serving ?? conditions?.ready ?? true) === true;
}
