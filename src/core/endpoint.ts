/**
 * The normalized cache-node record that every source publishes and every later stage reads
 * (docs/architecture.md "Vocabulary": endpoint, locality, weight).
 */
import { isIP } from 'node:net';
import { MAX_ENDPOINTS } from './limits.js';
import { compareStrings } from './order.js';

/** Where an endpoint runs. `subzone` is the NVLink fabric: GPUs that read each other's memory at NVLink speed. */
export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

/** A cache node. `id` must survive restarts (a StatefulSet pod name, not a pod IP). */
export interface Endpoint {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly locality: Locality;
  /** Relative capacity, e.g. GiB of GPU memory set aside for the cache. 0 owns nothing. */
  readonly weight: number;
  /** A not-ready endpoint owns nothing until it turns ready again. */
  readonly ready: boolean;
  /**
   * A planned departure (file `draining: true`, a Kubernetes endpoint terminating but serving):
   * the endpoint is not ready, so it owns nothing in the target map, but it still serves, so its
   * shards move in two phases and are warmed from it (docs/ownership.md). Absent means false.
   */
  readonly draining?: boolean;
}

/**
 * Identity syntax: printable ASCII without spaces, so ordering (tie-breaks, sorted output) is plain
 * byte order in every language that implements the hash contracts.
 */
export const ENDPOINT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/;

/**
 * Whether `address` is what a proxy accepts as an endpoint address in EDS: an IPv4 or IPv6 literal
 * without a zone index. Envoy and gRPC clients do not resolve host names there (they NACK the
 * whole ClusterLoadAssignment), and Node's isIP accepts `fe80::1%eth0`, which they also reject.
 * The config validator and the Kubernetes source admit only such addresses.
 */
export function isIpLiteral(address: string): boolean {
  return isIP(address) !== 0 && !address.includes('%');
}

/** Orders localities region, then zone, then subzone, so output is stable. */
export function compareLocality(a: Locality, b: Locality): number {
  return compareStrings(a.region, b.region) || compareStrings(a.zone, b.zone) || compareStrings(a.subzone, b.subzone);
}

/** Field-by-field equality of two endpoint records (what decides whether a source change is a change). */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return (
    a.id === b.id &&
    a.address === b.address &&
    a.port === b.port &&
    a.weight === b.weight &&
    a.ready === b.ready &&
    (a.draining === true) === (b.draining === true) &&
    a.locality.region === b.locality.region &&
    a.locality.zone === b.locality.zone &&
    a.locality.subzone === b.locality.subzone
  );
}

/**
 * Largest per-endpoint weight keyway emits (858 993): every endpoint of the largest topology at
 * this weight still sums to at most uint32, the limit on a locality's endpoint weights (Envoy) and
 * on a priority's locality weights (gRPC rejects the whole ClusterLoadAssignment past it). An
 * endpoint is listed at most once per priority of an assignment.
 */
export const MAX_LB_WEIGHT = Math.floor(0xffff_ffff / MAX_ENDPOINTS);

/**
 * An endpoint's `weight` (relative capacity, any number >= 0) as an xDS load_balancing_weight,
 * which must be an integer >= 1 (Envoy, the gRPC pickers, the endpoint picker and
 * `keyway/client`'s `pick` all spread by it). Scaled by 100 so two decimals survive, and clamped; the scale is
 * per endpoint (not relative to the largest), so one endpoint's reweight changes only its own entry.
 */
export function lbWeight(weight: number): number {
  return Math.min(MAX_LB_WEIGHT, Math.max(1, Math.round(weight * 100)));
}
