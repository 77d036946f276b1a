/**
 * What the xDS server tells an observer about each stream (metrics, change traces): a response
 * written, its ACK, its NACK, a stream opened or gone. Optional; the server works the same without one.
 */
import type { ProxyFlavor } from '../../core/proxy.js';
import type { ProxyClass, ResourceKind } from '../resources.js';

interface StreamEvent {
  /** node.id of the proxy (the row of `GET /v1/proxies`). */
  readonly nodeId: string;
  readonly streamId: string;
}

export interface OpenedEvent extends StreamEvent {
  /** What the stream's node is (an ownership agent's stream: `agent`). */
  readonly flavor: ProxyFlavor;
}

export interface SentEvent extends StreamEvent {
  readonly kind: ResourceKind;
  /** version_info (SotW) or system_version_info (delta) of the response. */
  readonly version: string;
  readonly nonce: string;
  /** Resources carried (delta: changed ones only). */
  readonly resources: number;
  /** ms since epoch. */
  readonly at: number;
}

export interface AnswerEvent extends StreamEvent {
  readonly kind: ResourceKind;
  /** The version answered (the one sent with that nonce). */
  readonly version: string;
  /**
   * When that response was written (ms since epoch), counted back from `at` on the monotonic clock:
   * `at - sentAt` is the time the proxy took, even across a wall-clock step.
   */
  readonly sentAt: number;
  /** When the answer arrived (ms since epoch). */
  readonly at: number;
}

export interface AckEvent extends AnswerEvent {
  /**
   * Proxyless gRPC clients only (absent for others): whether, with this ACK, the client holds
   * acknowledged every route, cluster and endpoint assignment its listeners lead to
   * (config-closure.ts). A gRPC client ACKs new routes before it asks for the clusters they use.
   */
  readonly complete?: boolean;
}

export interface NackEvent extends AnswerEvent {
  /** error_detail.message as the proxy wrote it. */
  readonly message: string;
}

/**
 * A stream's RDS subscription (SotW or delta) names route configurations its class's current
 * snapshot does not hold (an Envoy still draining a listener named after a former `service`, served
 * by another keyway process: docs/xds.md "A renamed service"). Told when the subscription changes,
 * not on every ACK; the observer decides what, if anything, to serve under those names.
 */
export interface UnservedRoutesEvent extends StreamEvent {
  /** The proxy's class, as its node gives it (the snapshot cache maps it to the class it is served). */
  readonly proxyClass: ProxyClass;
  /** The names asked (SotW: the whole subscription; delta: those just subscribed) that the snapshot lacks. */
  readonly names: readonly string[];
}

/**
 * A route configuration name lost its last subscriber: no open stream subscribes to it over RDS any
 * more (each unsubscribed or closed). Told once per such loss, not per stream; a former route name's
 * grace starts here (docs/xds.md "A renamed service"). `XdsServer.routeSubscribed` says whether a
 * stream asks for it again since.
 */
export interface RouteReleasedEvent {
  readonly name: string;
}

/** A new stream refused at a stream cap or limit before it was served (it was never registered). */
export interface RefusedEvent {
  /**
   * The setting of the cap hit (XDS_LIMIT_ENV): `KEYWAY_XDS_MAX_STREAMS`, `KEYWAY_XDS_MAX_STREAMS_PER_CONNECTION`
   * (refused as it opened), `KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS` (no first request in time),
   * `KEYWAY_XDS_MAX_STREAMS_PER_NODE`, `KEYWAY_XDS_MAX_NODE_ID_LENGTH` (refused at its first request).
   */
  readonly limit: string;
  /** `host:port` of the client. */
  readonly peer: string;
}

/**
 * Why keyway ended a stream it had admitted at a per-stream limit (docs/security.md "xDS streams"):
 * the proxy read nothing for KEYWAY_XDS_WRITE_STALL_MS (`write_stall`), its backlog passed
 * KEYWAY_XDS_MAX_BUFFERED_BYTES (`buffered_bytes`), a subscription passed KEYWAY_XDS_MAX_NAMES_PER_SUBSCRIPTION
 * (`subscription_names`) or KEYWAY_XDS_MAX_NAME_CHARS_PER_SUBSCRIPTION (`subscription_name_chars`).
 * The label of keyway_xds_streams_over_limit_total (telemetry's STREAM_LIMIT_REASONS).
 */
export type StreamLimitReason = 'write_stall' | 'buffered_bytes' | 'subscription_names' | 'subscription_name_chars';

/** An admitted stream keyway ended at a per-stream limit (not a refusal at admission: that is RefusedEvent). */
export interface OverLimitEvent {
  readonly reason: StreamLimitReason;
  readonly streamId: string;
  /** `host:port` of the client. */
  readonly peer: string;
}

/**
 * Callbacks run synchronously on the stream's code path, so they must be cheap; a callback that
 * throws is logged and ignored.
 */
export interface XdsServerEvents {
  /** A stream named its node (its first request) and was admitted. */
  opened?(event: OpenedEvent): void;
  /** A DiscoveryResponse (or delta response) of `kind` was written to the proxy. */
  sent?(event: SentEvent): void;
  /** The proxy acknowledged the latest response of `kind`. */
  acked?(event: AckEvent): void;
  /** The proxy rejected the latest response of `kind` (a request carrying error_detail). */
  nacked?(event: NackEvent): void;
  /** A stream's RDS subscription changed and names route configurations its class's snapshot does not hold. */
  unservedRoutes?(event: UnservedRoutesEvent): void;
  /** No open stream subscribes over RDS to a route configuration name any more (RouteReleasedEvent). */
  routeReleased?(event: RouteReleasedEvent): void;
  /** A stream of the proxy ended (the proxy may still hold other streams). */
  closed?(event: StreamEvent): void;
  /** A new stream was refused at a stream cap or limit (a metric counts these; the log has one line per burst). */
  refused?(event: RefusedEvent): void;
  /**
   * keyway ended an admitted stream at a per-stream limit (a metric counts these, so a fleet reset
   * over and over shows; the log has one line per stream).
   */
  overLimit?(event: OverLimitEvent): void;
}
