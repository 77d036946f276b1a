/**
 * How Envoy notices a dead primary and moves a shard's traffic to its replicas (priority 1):
 * active health checks, outlier detection and a retry that skips the priority that just failed.
 * The values are the ones checked against real Envoy 1.36 (docs/envoy-findings.md, 2b-2d):
 * failover within about a second of a kill, and no failed request while it happens.
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
 * Active HTTP health check. Without it an idle shard's dead primary is only found by a failing
 * request. Against an h2-only upstream the checker must speak HTTP/2 too, or every host fails its
 * check, Envoy falls into panic mode and primary-before-replica silently breaks (findings 4).
 */
export function healthChecks(protocol: UpstreamProtocol): HealthCheck[] {
  return [
    create(HealthCheckSchema, {
      timeout: duration(250),
      interval: duration(500),
      noTrafficInterval: duration(500),
      unhealthyThreshold: 2,
      healthyThreshold: 1,
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
