/**
 * Envoy bootstraps that point at keyway over ADS (the same shape as examples/envoy-bootstrap.yaml):
 * Envoy learns listeners and clusters (and through them routes and endpoints) from one gRPC stream
 * to the static cluster `keyway_xds`.
 */

export interface AdsBootstrapOptions {
  /** keyway's xDS port on 127.0.0.1 (or `xdsHost`). */
  readonly xdsPort: number;
  readonly xdsHost?: string;
  readonly nodeId?: string;
  readonly nodeCluster?: string;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string };
  /** How long Envoy waits for the first answer of each xDS type before it gives up warming (default 15 s). */
  readonly initialFetchTimeoutMs?: number;
}

/** A v3 bootstrap for Envoy with ADS to keyway for LDS and CDS (RDS and EDS follow through ADS from them). */
export function adsBootstrap(opts: AdsBootstrapOptions): Record<string, unknown> {
  const fetchTimeout = `${(opts.initialFetchTimeoutMs ?? 15_000) / 1000}s`;
  const ads = { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: fetchTimeout };
  return {
    node: {
      id: opts.nodeId ?? 'envoy-e2e',
      cluster: opts.nodeCluster ?? 'keyway-e2e',
      ...(opts.locality ? { locality: opts.locality } : {}),
    },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'keyway_xds' } }],
        set_node_on_first_message_only: true,
      },
      lds_config: ads,
      cds_config: ads,
    },
    static_resources: {
      clusters: [
        {
          name: 'keyway_xds',
          type: 'STATIC',
          connect_timeout: '1s',
          // xDS is gRPC: the control-plane cluster must speak HTTP/2.
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: 'keyway_xds',
            endpoints: [
              { lb_endpoints: [{ endpoint: { address: { socket_address: { address: opts.xdsHost ?? '127.0.0.1', port_value: opts.xdsPort } } } }] },
            ],
          },
        },
      ],
    },
  };
}
