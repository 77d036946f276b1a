/**
 * Settings read from the topology file besides the endpoints (public contract: README
 * "Topology file"). The config loader fills every default, so later stages see complete values.
 */
import type { Endpoint } from './endpoint.js';
import type { ShardingPolicy } from './policy.js';

/** Requests that arrive at Envoy without `x-cache-shard`: `any` endpoint, or `reject` with 400. */
export type MissingHeaderPolicy = 'any' | 'reject';
export type UpstreamProtocol = 'http1' | 'http2';
/**
 * How Envoy finds a shard's owners (docs/xds.md "Route shape"): `subset`, one cluster whose
 * subset load balancer selects by the shard's metadata; `table`, a route table that maps the shard
 * to a cluster per owner list.
 */
export type RouteShape = 'subset' | 'table';

export interface EnvoySettings {
  /** Port of the listener keyway gives Envoy for cache traffic. */
  readonly listenerPort: number;
  readonly missingHeader: MissingHeaderPolicy;
  readonly upstreamProtocol: UpstreamProtocol;
  readonly routeShape: RouteShape;
  /**
   * The router's dynamic per-cluster stats (`upstream_rq_<code>`, `upstream_rq_time`, ...): off by
   * default, about 3 % of Envoy's CPU per request (docs/configuration.md).
   */
  readonly dynamicStats: boolean;
  /** Envoy generates `x-request-id` for a request without one: off by default. */
  readonly generateRequestId: boolean;
  /** Envoy's own headers: the router's `x-envoy-*` (`x-envoy-upstream-service-time`, ...) and `server: envoy`. Off by default. */
  readonly envoyHeaders: boolean;
  /**
   * How long a try may wait for its answer to start before Envoy sends the request to the next
   * priority as well (the route's `per_try_timeout`, hedged): {@link DEFAULT_PER_TRY_TIMEOUT_MS}
   * by default, 0 for neither (docs/configuration.md `envoy.perTryTimeoutMs`).
   */
  readonly perTryTimeoutMs: number;
}

/**
 * The per-try timeout by default: a node hung with its port open costs a request 5 s, not Envoy's
 * 15 s route timeout and a 504 (docs/envoy-findings.md 2i).
 */
export const DEFAULT_PER_TRY_TIMEOUT_MS = 5_000;

/** How a request names its shard at the proxy (topology file `routing:`). */
export interface RoutingSettings {
  /**
   * The request header that carries the cache key (lowercase). Envoy computes the shard from it
   * (hash contract 1) when the request has no `x-cache-shard`.
   */
  readonly keyHeader: string;
}

export interface XdsSettings {
  /** Listener and virtual host name; proxyless gRPC clients dial `xds:///<service>`. */
  readonly service: string;
  readonly envoy: EnvoySettings;
  readonly routing: RoutingSettings;
}

export const DEFAULT_XDS_SETTINGS: XdsSettings = {
  service: 'keyway-cache',
  envoy: { listenerPort: 10000, missingHeader: 'any', upstreamProtocol: 'http1', routeShape: 'subset', dynamicStats: false, generateRequestId: false, envoyHeaders: false, perTryTimeoutMs: DEFAULT_PER_TRY_TIMEOUT_MS },
  routing: { keyHeader: 'x-cache-key' },
};

/** Everything one topology file (or a source plus its settings) says: the input of the pipeline. */
export interface Topology {
  readonly policy: ShardingPolicy;
  readonly xds: XdsSettings;
  readonly endpoints: readonly Endpoint[];
}
