/**
 * How Envoy notices a dead primary and moves a shard's traffic to its replicas (priority 1):
 * active health checks, outlier detection and a retry that skips the priority that just failed.
 * The values are the ones checked against real Envoy 1.36 (docs/envoy-findings.md, 2b-2d, 2f, 2g):
 * no failed request when a primary is killed (the retry moves its requests to a replica at once), no
 * healthy node marked failed because it answered its health check late, and one check per node per
 * proxy every 2 s while traffic flows.
 */
import { anyPack } from '@bufbuild/protobuf/wkt';
import { create } from '@bufbuild/protobuf';
import {
  CircuitBreakersSchema,
  CodecClientType,
  HealthCheckSchema,
  OutlierDetectionSchema,
  PreviousPrioritiesConfigSchema,
  RetryPolicySchema,
  type CircuitBreakers,
  type HealthCheck,
  type OutlierDetection,
  type RetryPolicy,
} from '../proto.js';
import { DEFAULT_PER_TRY_TIMEOUT_MS, type UpstreamProtocol } from '../../core/settings.js';
import { UINT32_MAX, duration } from './envoy-core.js';
import { PREVIOUS_PRIORITIES_RETRY } from './names.js';

/** Path every cache node must answer with 200 while it can serve (the active health check). */
export const HEALTH_CHECK_PATH = '/healthz';

/**
 * The active health check's timing (docs/envoy-findings.md 2f, 2g). A dead node refuses the connection, so
 * every check fails at once and it is found after `unhealthyThreshold` intervals; the timeout only decides
 * how long a slow answer may take. A node that is busy (starting, warming shards, a long GC) may answer
 * late: with 1 s and three failures in a row, its event loop may stall several seconds before Envoy marks
 * it failed. Requests in flight to a dead or hung node are covered by outlier detection and the retry, not
 * by this check, so once a cluster carries traffic it checks every 2 s, not 0.5 s: every proxy checks every
 * node, so the interval sets the load on the nodes (M proxies x N nodes / interval). Start-up (no traffic
 * yet) and a node marked failed are checked every 0.5 s, so new and returning nodes take traffic at once;
 * a node already healthy in a cluster without traffic (an idle proxy, or a node no request of this proxy
 * reached yet) every 2 s, as with traffic: at 0.5 s an idle proxy checked each node four times as often as
 * a busy one.
 */
export const HEALTH_CHECK_TIMING = {
  timeoutMs: 1000,
  /** Once the cluster has had traffic: dead nodes meet the retry and outlier detection first. */
  intervalMs: 2000,
  /** Before any traffic reaches the cluster, a node not yet healthy (start-up): a new fleet is seen within a second. */
  noTrafficIntervalMs: 500,
  /** Before any traffic reaches the cluster, a node already healthy: Envoy's `no_traffic_healthy_interval`. */
  noTrafficHealthyIntervalMs: 2000,
  /** A node marked failed: it takes traffic again within 0.5 s of answering. */
  unhealthyIntervalMs: 500,
  unhealthyThreshold: 3,
  healthyThreshold: 1,
} as const;

/**
 * Active HTTP health check. Without it an idle shard's dead primary is only found by a failing
 * request. Against an h2-only upstream the checker must speak HTTP/2 too, or every host fails its
 * check, Envoy falls into panic mode and primary-before-replica silently breaks (findings 4).
 * `host` is the check's Host (`:authority`); without it Envoy sends the cluster's name, which for
 * the route-table shape's `<service>/node/<id>` is no valid Host: Go's net/http answers 400
 * ("malformed Host header"), so every node failed its own cluster's check and its shards went to
 * their backups at priority 1 (their checks are off there, so they count as healthy). Those clusters
 * pass the service name, a valid Host (letters, digits, `.`, `_`, `:`, `-`), which is also what the
 * subset shape's cluster, named after the service, sends.
 */
export function healthChecks(protocol: UpstreamProtocol, host?: string): HealthCheck[] {
  const t = HEALTH_CHECK_TIMING;
  return [
    create(HealthCheckSchema, {
      timeout: duration(t.timeoutMs),
      interval: duration(t.intervalMs),
      noTrafficInterval: duration(t.noTrafficIntervalMs),
      noTrafficHealthyInterval: duration(t.noTrafficHealthyIntervalMs),
      unhealthyInterval: duration(t.unhealthyIntervalMs),
      unhealthyThreshold: t.unhealthyThreshold,
      healthyThreshold: t.healthyThreshold,
      healthChecker: {
        case: 'httpHealthCheck',
        value: {
          path: HEALTH_CHECK_PATH,
          ...(host !== undefined ? { host } : {}),
          codecClientType: protocol === 'http2' ? CodecClientType.HTTP2 : CodecClientType.HTTP1,
        },
      },
    }),
  ];
}

/**
 * Passive detection: three consecutive 5xx (connect failures count as 503) eject a host for 5 s.
 * max_ejection_percent 100 because a shard's priority-0 subset is one host, which must be ejectable.
 */
export function outlierDetection(): OutlierDetection {
  return create(OutlierDetectionSchema, {
    consecutive5xx: 3,
    interval: duration(500),
    baseEjectionTime: duration(5000),
    maxEjectionPercent: 100,
  });
}

/**
 * The value of each of Envoy's circuit breakers on keyway's clusters: the largest a uint32 holds,
 * which Envoy reads as no limit of its own (Istio's default too).
 */
export const CIRCUIT_BREAKER_LIMIT = UINT32_MAX;

/**
 * Envoy's circuit breakers (CDS `circuit_breakers`) lifted: connections, pending requests,
 * requests and retries per cluster. Envoy's defaults refuse with 503 what a cache fleet must
 * take: 1024 connections, pending and active requests per cluster, which the subset shape spends
 * on the whole fleet (3000 requests in flight through one proxy: 1714 refused); and 3 retries in
 * flight, when a dying node fails every request in flight to it at once and each needs its
 * failover retry (92 of 107197 requests failed over six loaded kills; findings 2c). Requests stay
 * bounded by the route's timeout and the clients; retries by the retry policy (connection
 * failures, resets and hedges past the per-try timeout; at most two per request, each to another
 * priority).
 */
export function clusterCircuitBreakers(): CircuitBreakers {
  const limit = CIRCUIT_BREAKER_LIMIT;
  return create(CircuitBreakersSchema, { thresholds: [{ maxConnections: limit, maxPendingRequests: limit, maxRequests: limit, maxRetries: limit }] });
}

/**
 * The default of `envoy.perTryTimeoutMs`: how long one try may wait for a node's answer to start
 * before Envoy sends the request to the next priority as well (`per_try_timeout` with the hedge
 * below; 0 for neither). Without it a node that hangs with its port open
 * (accepts, never answers) held each request for Envoy's 15 s route timeout and failed it 504,
 * unretried, until its health check failed it (about 6 s of its requests;
 * docs/envoy-findings.md 2i). Envoy does not act on it once the answer has started, so a long
 * transfer is not cut.
 */
export const PER_TRY_TIMEOUT_MS = DEFAULT_PER_TRY_TIMEOUT_MS;

/**
 * Retries a request whose primary could not be reached on the next priority (the replicas), and
 * with `perTryTimeoutMs` > 0 sends one whose answer has not started within it there too
 * ({@link failoverPolicies}). Without `previous_priorities` the retry returns to the same dead
 * primary (findings 2c).
 */
export function failoverRetryPolicy(perTryTimeoutMs: number = PER_TRY_TIMEOUT_MS): RetryPolicy {
  // The default serves routes built by hand (benchmarks); the translator passes the topology's value.
  return create(RetryPolicySchema, {
    retryOn: 'connect-failure,refused-stream,reset',
    numRetries: 2,
    ...(perTryTimeoutMs > 0 && { perTryTimeout: duration(perTryTimeoutMs) }),
    retryPriority: {
      name: PREVIOUS_PRIORITIES_RETRY,
      configType: { case: 'typedConfig', value: anyPack(PreviousPrioritiesConfigSchema, create(PreviousPrioritiesConfigSchema, { updateFrequency: 1 })) },
    },
  });
}

/**
 * The virtual host's failover: {@link failoverRetryPolicy} and, for a per-try timeout (not 0), the
 * `hedge_policy` that keeps a try past it: the request goes to the next priority as well and the
 * first answer wins. Cancelling it instead (a plain per-try timeout) failed every request of a node
 * that was only slow: with every node answering after 6 s, 10 of 10 requests answered 504 after
 * 15 s and each reached three nodes, where without the timeout all 10 answered 200 after 6 s;
 * hedged, all 10 answer 200 after 6 s and each reaches two nodes (findings 2i). One function for
 * both, so neither goes out without the other.
 */
export function failoverPolicies(perTryTimeoutMs: number): { readonly retryPolicy: RetryPolicy; readonly hedgePolicy?: { readonly hedgeOnPerTryTimeout: true } } {
  const retryPolicy = failoverRetryPolicy(perTryTimeoutMs);
  return perTryTimeoutMs > 0 ? { retryPolicy, hedgePolicy: { hedgeOnPerTryTimeout: true } } : { retryPolicy };
}
