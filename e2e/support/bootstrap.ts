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
  /** Dial keyway over TLS (docs/security.md "TLS and mTLS for xDS"); with `cert`/`key`, mTLS. */
  readonly tls?: XdsTlsBootstrap;
}

/** The files of Envoy's TLS transport socket to keyway. */
export interface XdsTlsBootstrap {
  /** CA that signed keyway's server certificate. */
  readonly ca: string;
  /** Name keyway's certificate must carry as a DNS SAN (also sent as SNI); default `localhost`. */
  readonly serverName?: string;
  /** Envoy's client certificate and key, for mTLS. */
  readonly cert?: string;
  readonly key?: string;
}

/** An UpstreamTlsContext for the `keyway_xds` cluster: h2 over ALPN (gRPC), keyway's certificate checked against `ca` and `serverName`. */
export function xdsTransportSocket(tls: XdsTlsBootstrap): Record<string, unknown> {
  const serverName = tls.serverName ?? 'localhost';
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: serverName,
      common_tls_context: {
        alpn_protocols: ['h2'],
        ...(tls.cert && tls.key ? { tls_certificates: [{ certificate_chain: { filename: tls.cert }, private_key: { filename: tls.key } }] } : {}),
        validation_context: {
          trusted_ca: { filename: tls.ca },
          match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: serverName } }],
        },
      },
    },
  };
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
          ...(opts.tls ? { transport_socket: xdsTransportSocket(opts.tls) } : {}),
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
