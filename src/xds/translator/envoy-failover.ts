/**
 * How Envoy notices a dead primary and moves a shard's traffic to its replicas (priority 1):
 * active health checks, outlier detection and a retry that skips the priority that just failed.
 * The values are the ones checked against real Envoy 1.36 (docs/envoy-findings.md, 2b-2d, 2f):
 * failover within about 1.5 s of a kill, no failed request while it happens, and no healthy node marked
 * failed because it answered its health check late.
 */
import { anyPack } from '@bufbuild/protobuf/wkt';
import { create } from '@bufbuild/protobuf';
import {
  CodecClientType,
  HealthCheckSchema,
  OutlierDetectionSchema,
  PreviousPrioritiesConfigSchema,
  RetryPolicySchema,
  type HealthCheck,
  type OutlierDetection,
  type RetryPolicy,
} from '../proto.js';
import type { UpstreamProtocol } from '../../core/settings.js';
import { duration } from './envoy-core.js';
import { PREVIOUS_PRIORITIES_RETRY } from './names.js';

/** Path every cache node must answer with 200 while it can serve (the active health check). */
export const HEALTH_CHECK_PATH = '/healthz';

/**
 * The active health check's timing (docs/envoy-findings.md 2f). A dead node refuses the connection, so every
 * check fails at once and it is found after `unhealthyThreshold` intervals (about 1.5 s); the timeout only
 * decides how long a slow answer may take. A node that is busy (starting, warming shards, a long GC) may
 * answer late: with 1 s and three failures in a row, its event loop may stall about 3.5 s before Envoy
 * marks it failed. The former 0.25 s and two failures marked a node failed after a stall of 0.75 to 1.25 s,
 * and its shards went to their replicas for nothing. Requests in flight to a dead or hung node are covered
 * by outlier detection and the retry, not by this check.
 */
export const HEALTH_CHECK_TIMING = {
  timeoutMs: 1000,
  intervalMs: 500,
  /** Before any traffic reaches the cluster (start-up, an idle shard): as often as with traffic. */
  noTrafficIntervalMs: 500,
  unhealthyThreshold: 3,
  healthyThreshold: 1,
} as const;

/**
 * Active HTTP health check. Without it an idle shard's dead primary is only found by a failing
 * request. Against an h2-only upstream the checker must speak HTTP/2 too, or every host fails its
 * check, Envoy falls into panic mode and primary-before-replica silently breaks (findings 4).
 */
export function healthChecks(protocol: UpstreamProtocol): HealthCheck[] {
  const t = HEALTH_CHECK_TIMING;
  return [
    create(HealthCheckSchema, {
      timeout: duration(t.timeoutMs),
      interval: duration(t.intervalMs),
      noTrafficInterval: duration(t.noTrafficIntervalMs),
      unhealthyThreshold: t.unhealthyThreshold,
      healthyThreshold: t.healthyThreshold,
      healthChecker: {
        case: 'httpHealthCheck',
        value: {
          path: HEALTH_CHECK_PATH,
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
 * Retries a request whose primary could not be reached on the next priority (the replicas).
 * Without `previous_priorities` the retry returns to the same dead primary (findings 2c).
 */
export function failoverRetryPolicy(): RetryPolicy {
  return create(RetryPolicySchema, {
    retryOn: 'connect-failure,refused-stream,reset',
    numRetries: 2,
    retryPriority: {
      name: PREVIOUS_PRIORITIES_RETRY,
      configType: { case: 'typedConfig', value: anyPack(PreviousPrioritiesConfigSchema, create(PreviousPrioritiesConfigSchema, { updateFrequency: 1 })) },
    },
  });
}
