/**
 * Limits on what one xDS client may make keyway hold (docs/security.md "xDS streams"): undelivered
 * bytes per stream, names per subscription, streams per node id, per connection and in all, the
 * length of a node id, the shared responses kept, how long a stream may stay silent and how long a
 * connection may stay idle or open. Each has a default; `keyway serve` reads overrides from the
 * environment (KEYWAY_XDS_*).
 */

import { envLimit } from '../../core/env-limit.js';
import { MAX_TIMER_MS } from '../../core/limits.js';
import { MAX_NAMES_SHOWN } from '../../core/proxy.js';

export interface XdsStreamLimits {
  /**
   * Undelivered bytes above which a stream's next responses wait (coalesced: the latest state of
   * each type is sent once the proxy has read what it was given).
   */
  readonly highWaterBytes: number;
  /** Undelivered bytes above which the stream is closed (RESOURCE_EXHAUSTED). */
  readonly maxBufferedBytes: number;
  /**
   * How long a stream may hold undelivered bytes without the proxy reading any of them before it is
   * closed (RESOURCE_EXHAUSTED): a client that never reads cannot pin memory for ever. Progress is
   * seen per piece of a response (outbox.ts WRITE_PIECE_BYTES), so a slow reader is not cut.
   */
  readonly writeStallMs: number;
  /** Resource names one stream may subscribe to per type (SotW and delta). */
  readonly maxNamesPerSubscription: number;
  /**
   * Characters of those names in all: the names cap alone lets a delta client hold 100 000 names of
   * megabytes each (one per request), kept for the stream's life and listed in `/v1/proxies`.
   */
  readonly maxNameCharsPerSubscription: number;
  /** Open streams per node id (Envoy without ADS opens one per type; a reconnect may overlap). */
  readonly maxStreamsPerNode: number;
  /** Open xDS streams per client connection (one HTTP/2 connection, one peer address). */
  readonly maxStreamsPerConnection: number;
  /**
   * Open xDS streams in all (every service on the port: ADS and per-type, SotW and delta, the
   * ownership agents' streams): the per-connection cap alone lets a client that opens many
   * connections make keyway hold streams without bound. A new stream past it is refused.
   */
  readonly maxStreams: number;
  /**
   * Characters of a node id (xDS `node.id`, a report's `node_id`). The client chooses it, and it is
   * logged, listed in `/v1/proxies` and quoted in `/readyz`; gRPC alone would allow 4 MiB.
   */
  readonly maxNodeIdLength: number;
  /**
   * Bytes of the responses, and of the subscription selections, that streams asking the same share
   * (each kept once per kind snapshot): their keys are the names clients asked, and a kind snapshot
   * may stay in force for weeks, so past this the least recently used are dropped (rebuilt if asked
   * again). Per server, for each of the two.
   */
  readonly maxSharedBytes: number;
  /**
   * How long a new stream may go without its first request (which names its node) before it ends
   * (RESOURCE_EXHAUSTED): until then it holds a place under the stream caps, and HTTP/2 pings
   * alone would keep a silent one for ever.
   */
  readonly firstRequestTimeoutMs: number;
  /** How long a connection may hold no stream before keyway closes it (GOAWAY; gRPC clients reconnect when they next need it). */
  readonly maxConnectionIdleMs: number;
  /**
   * How long a connection may live (±10% jitter) before keyway sends GOAWAY, so clients reconnect,
   * through the Service, to any replica: without it the replicas started first keep the whole
   * fleet after a rollout. From MAX_CONNECTION_AGE_NEVER_MS on: never.
   */
  readonly maxConnectionAgeMs: number;
  /** How long the streams of a connection past its age may go on before the connection is closed (their clients then open new ones). */
  readonly maxConnectionAgeGraceMs: number;
}

export const DEFAULT_XDS_STREAM_LIMITS: XdsStreamLimits = {
  highWaterBytes: 1 << 20,
  maxBufferedBytes: 64 << 20,
  writeStallMs: 60_000,
  maxNamesPerSubscription: MAX_NAMES_SHOWN,
  // 64 Mi: the names cap's 100 000 names at 670 characters each, room for keyway's own longest
  // names a client subscribes to (a gRPC owner-tuple cluster, `<service>/owners/<id>,<id>,<id>`,
  // about 100 characters with Kubernetes pod names, 620 with ids of 200) at the names cap.
  maxNameCharsPerSubscription: 64 << 20,
  maxStreamsPerNode: 16,
  maxStreamsPerConnection: 100,
  // 10 000: five times a replica serving 2000 Envoys over ADS (one stream each, the bootstrap of
  // docs/xds.md), room for reconnects overlapping streams the keepalive has not yet found dead,
  // for 2500 Envoys without ADS (4 streams each) and twice the 5000 streams of the fan-out
  // benchmark (docs/benchmarks.md). At the ~40 KiB an Envoy's stream costs there, 10 000 streams
  // are ~400 MB: past that the pod is more likely OOM-killed, dropping every stream, than helped.
  maxStreams: 10_000,
  // Istio's ids are about 100 characters; a SPIFFE ID (the node id under mTLS) may have 2048 bytes.
  maxNodeIdLength: 2048,
  // Far above what a fleet's live subscriptions share (one response per class, kind and distinct
  // subscription); what a client asking new names in a loop can make keyway keep.
  maxSharedBytes: 256 << 20,
  // 30 s: Envoy and gRPC write the first request with the stream's headers (Envoy's ADS mux on
  // stream establishment, gRPC's xDS client as it starts the call), so a real client needs one
  // round trip; 30 s is hundreds of slow round trips, and the timer yields to pending I/O before
  // it ends a stream, so a stalled event loop does not end streams whose request has arrived. A
  // client must then open 333 streams a second to hold the 10 000 of maxStreams silently.
  firstRequestTimeoutMs: 30_000,
  // 5 min: longer than an xDS client's reconnect backoff (Envoy 30 s, gRPC 120 s) and the 10 s
  // load windows a node reports, so a live client's connection is not idle that long.
  maxConnectionIdleMs: 5 * 60_000,
  // 30 min and 10 s: istiod's values (its keepalive MaxServerConnectionAge and Grace), for the same
  // reason: clients spread over the replicas again. A reconnecting Envoy or gRPC client keeps its
  // configuration and gets it again at once; an agent announces what it holds.
  maxConnectionAgeMs: 30 * 60_000,
  maxConnectionAgeGraceMs: 10_000,
};

export { MAX_TIMER_MS };

/**
 * The connection age from which connections are never aged out: grpc-js adds up to 10% jitter to
 * the age and arms one timer, which would fire after 1 ms past MAX_TIMER_MS.
 */
export const MAX_CONNECTION_AGE_NEVER_MS = Math.floor(MAX_TIMER_MS / 1.1);

/** Environment variable of each limit (`keyway serve`, docs/security.md). */
export const XDS_LIMIT_ENV: Readonly<Record<keyof XdsStreamLimits, string>> = {
  highWaterBytes: 'KEYWAY_XDS_HIGH_WATER_BYTES',
  maxBufferedBytes: 'KEYWAY_XDS_MAX_BUFFERED_BYTES',
  writeStallMs: 'KEYWAY_XDS_WRITE_STALL_MS',
  maxNamesPerSubscription: 'KEYWAY_XDS_MAX_NAMES_PER_SUBSCRIPTION',
  maxNameCharsPerSubscription: 'KEYWAY_XDS_MAX_NAME_CHARS_PER_SUBSCRIPTION',
  maxStreamsPerNode: 'KEYWAY_XDS_MAX_STREAMS_PER_NODE',
  maxStreamsPerConnection: 'KEYWAY_XDS_MAX_STREAMS_PER_CONNECTION',
  maxStreams: 'KEYWAY_XDS_MAX_STREAMS',
  maxNodeIdLength: 'KEYWAY_XDS_MAX_NODE_ID_LENGTH',
  maxSharedBytes: 'KEYWAY_XDS_MAX_SHARED_BYTES',
  firstRequestTimeoutMs: 'KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS',
  maxConnectionIdleMs: 'KEYWAY_XDS_MAX_CONNECTION_IDLE_MS',
  maxConnectionAgeMs: 'KEYWAY_XDS_MAX_CONNECTION_AGE_MS',
  maxConnectionAgeGraceMs: 'KEYWAY_XDS_MAX_CONNECTION_AGE_GRACE_MS',
};

/**
 * The limits with overrides from `env` (positive integers; durations, `*_MS`, at most MAX_TIMER_MS).
 * A malformed value is an error: a limit silently left at its default would surprise the operator
 * who set it, and a duration past MAX_TIMER_MS would act after 1 ms (KEYWAY_XDS_WRITE_STALL_MS of
 * 3000000000, meant as "never", reset every stream that had a byte pending).
 * @throws KeywayError BAD_ARGUMENT naming the variable
 */
export function xdsStreamLimitsFromEnv(env: NodeJS.ProcessEnv): XdsStreamLimits {
  const out: Record<string, number> = { ...DEFAULT_XDS_STREAM_LIMITS };
  for (const [key, name] of Object.entries(XDS_LIMIT_ENV)) out[key] = envLimit(env, name, out[key]!, { ms: key.endsWith('Ms') });
  return out as unknown as XdsStreamLimits;
}
