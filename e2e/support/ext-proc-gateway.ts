/**
 * Envoy configured the way inference gateways configure it for an endpoint picker (Envoy Gateway,
 * kgateway, Istio; docs/gateways.md): an `ext_proc` HTTP filter that calls the picker on the
 * request headers (and on the response headers, for the served endpoint), and a cluster of every
 * pool endpoint under the `envoy.load_balancing_policies.override_host` policy, which sends each
 * request to the first reachable endpoint of `x-gateway-destination-endpoint` and, on a retry, the
 * next one. Bodies go to the picker in `FULL_DUPLEX_STREAMED` mode when asked, as gateways that
 * read the model name from the body set it. A static bootstrap: the tests and the benchmark write it.
 */

/** One gateway listener. */
export interface GatewayListener {
  readonly name: string;
  readonly port: number;
  /** The picker's gRPC cluster (a key of `pickers`). */
  readonly picker: string;
  /** Stream request and response bodies through the picker (`FULL_DUPLEX_STREAMED`, trailers SEND). */
  readonly streamBodies?: boolean;
  /** A subset hint the gateway sets before the picker (`envoy.lb.subset_hint`), as a gateway restricting the pool would. */
  readonly subsetHint?: readonly string[];
}

export interface GatewayBootstrapOptions {
  readonly listeners: readonly GatewayListener[];
  /** Picker clusters by name: the ext_proc servers' ports on 127.0.0.1. */
  readonly pickers: Readonly<Record<string, number>>;
  /** The pool: every model server (cache node) the gateway may route to. */
  readonly backends: readonly { readonly address: string; readonly port: number }[];
  /**
   * A response header each backend sets to its own `ip:port`; the gateway copies it into
   * `envoy.lb` `x-gateway-destination-endpoint-served`, the metadata the protocol asks gateways to
   * report (GKE sets it natively; plain Envoy needs this filter).
   */
  readonly servedHeader?: string;
  /**
   * Envoy's runtime guard `envoy.reloadable_features.ext_proc_graceful_grpc_close` (default true
   * here; off in Envoy 1.36 and 1.40): Envoy half-closes a finished ext_proc stream and lets the
   * server end it, instead of resetting it. Node's HTTP/2 server answers more than ~1000 resets on
   * one connection with GOAWAY, which fails the requests in flight (docs/gateways.md "Limits").
   */
  readonly gracefulClose?: boolean;
}

const EXT_PROC = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';
const OVERRIDE_HOST = 'type.googleapis.com/envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost';
const ROUND_ROBIN = 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin';
const HTTP_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function address(host: string, port: number): Record<string, unknown> {
  return { socket_address: { address: host, port_value: port } };
}

function gatewayFilters(l: GatewayListener, servedHeader: string | undefined): Record<string, unknown>[] {
  const filters: Record<string, unknown>[] = [];
  if (l.subsetHint) {
    filters.push({
      name: 'envoy.filters.http.set_metadata',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.set_metadata.v3.Config',
        metadata: [{ metadata_namespace: 'envoy.lb.subset_hint', value: { 'x-gateway-destination-endpoint-subset': [...l.subsetHint] } }],
      },
    });
  }
  const body = l.streamBodies ? 'FULL_DUPLEX_STREAMED' : 'NONE';
  const trailers = l.streamBodies ? 'SEND' : 'SKIP';
  filters.push({
    name: 'envoy.filters.http.ext_proc',
    typed_config: {
      '@type': EXT_PROC,
      grpc_service: { envoy_grpc: { cluster_name: l.picker }, timeout: '5s' },
      failure_mode_allow: false,
      message_timeout: '5s',
      processing_mode: {
        request_header_mode: 'SEND',
        response_header_mode: servedHeader ? 'SEND' : 'SKIP',
        request_body_mode: body,
        response_body_mode: body,
        request_trailer_mode: trailers,
        response_trailer_mode: trailers,
      },
      // The subset hint goes to the picker; the served endpoint comes back to it on the response.
      // receiving: without it Envoy drops keyway's envoy.lb metadata (the override_host metadata source).
      metadata_options: { forwarding_namespaces: { untyped: ['envoy.lb.subset_hint', 'envoy.lb'] }, receiving_namespaces: { untyped: ['envoy.lb'] } },
    },
  });
  if (servedHeader) {
    // Decoding runs filters in order, encoding in reverse: this runs before ext_proc on the response.
    filters.push({
      name: 'envoy.filters.http.header_to_metadata',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config',
        response_rules: [
          { header: servedHeader, on_header_present: { metadata_namespace: 'envoy.lb', key: 'x-gateway-destination-endpoint-served', type: 'STRING' }, remove: false },
        ],
      },
    });
  }
  filters.push({ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } });
  return filters;
}

/** The static bootstrap: one listener per `listeners` entry, the pool cluster and one cluster per picker. */
export function gatewayBootstrap(opts: GatewayBootstrapOptions): Record<string, unknown> {
  const listeners = opts.listeners.map((l) => ({
    name: l.name,
    address: address('127.0.0.1', l.port),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: l.name,
              route_config: {
                virtual_hosts: [
                  {
                    name: 'pool',
                    domains: ['*'],
                    routes: [
                      {
                        match: { prefix: '/' },
                        route: {
                          cluster: 'pool',
                          timeout: '10s',
                          // A down endpoint: the retry goes to the next one of the picker's list.
                          retry_policy: { retry_on: 'connect-failure,refused-stream,reset', num_retries: 2 },
                        },
                      },
                    ],
                  },
                ],
              },
              http_filters: gatewayFilters(l, opts.servedHeader),
            },
          },
        ],
      },
    ],
  }));
  const pool = {
    name: 'pool',
    type: 'STATIC',
    connect_timeout: '1s',
    // As docs/gateways.md: Envoy's defaults refuse a loaded pool (1024 connections, pending and
    // active requests) and a loaded failover's retries (3 in flight).
    circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295 }] },
    // As docs/gateways.md: idle connections closed before the upstreams' 5 s keep-alive does.
    common_http_protocol_options: { idle_timeout: '4s' },
    load_assignment: {
      cluster_name: 'pool',
      endpoints: [{ lb_endpoints: opts.backends.map((b) => ({ endpoint: { address: address(b.address, b.port) } })) }],
    },
    load_balancing_policy: {
      policies: [
        {
          typed_extension_config: {
            name: 'envoy.load_balancing_policies.override_host',
            typed_config: {
              '@type': OVERRIDE_HOST,
              override_host_sources: [{ header: 'x-gateway-destination-endpoint' }, { metadata: { key: 'envoy.lb', path: [{ key: 'x-gateway-destination-endpoint' }] } }],
              fallback_policy: { policies: [{ typed_extension_config: { name: 'envoy.load_balancing_policies.round_robin', typed_config: { '@type': ROUND_ROBIN } } }] },
            },
          },
        },
      ],
    },
  };
  const pickers = Object.entries(opts.pickers).map(([name, port]) => ({
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    // As docs/gateways.md: one ext_proc stream per request in flight; Envoy's default max_requests (1024) fails the 1025th.
    circuit_breakers: { thresholds: [{ max_requests: 4294967295 }] },
    typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': HTTP_OPTIONS, explicit_http_config: { http2_protocol_options: {} } } },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: address('127.0.0.1', port) } }] }] },
  }));
  const runtime =
    opts.gracefulClose === false ? {} : { layered_runtime: { layers: [{ name: 'static', static_layer: { 'envoy.reloadable_features.ext_proc_graceful_grpc_close': true } }] } };
  return { static_resources: { listeners, clusters: [pool, ...pickers] }, ...runtime };
}
