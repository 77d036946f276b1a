/**
 * Reference Envoy resources for shard routing, as settled against real Envoy 1.36.4 (see
 * docs/envoy-findings.md): header_to_metadata + router, a subset-LB cluster on `cache-shard`, and a
 * ClusterLoadAssignment where primaries sit at priority 0 and replicas at priority 1 under an alias
 * address. The e2e tests run Envoy on these without keyway (static listener, cluster from the
 * bootstrap, endpoints from a watched file), so they state what keyway's translator must produce.
 * Field names are the v3 API's proto names, as Envoy accepts them in YAML/JSON bootstraps.
 */
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type MissingHeader = 'any' | 'reject';
export type UpstreamProtocol = 'http1' | 'http2';

/** One cache node's place in the assignment: the shards it leads (primary) and backs up (replica). */
export interface ShardedEndpoint {
  readonly address: string;
  readonly port: number;
  readonly leads: readonly (string | number)[];
  readonly backs: readonly (string | number)[];
}

/**
 * How the replica copy of an endpoint is told apart. `alias` (the working construction) lists it at
 * the IPv4-mapped IPv6 address with `ipv4_compat`; `same-address` is the first candidate (docs/envoy-findings.md 2a), which
 * EDS collapses to one host per address (kept so a test can show it).
 */
export type ReplicaAddressing = 'alias' | 'same-address';

export const SHARD_HEADER = 'x-cache-shard';
export const SHARD_METADATA_KEY = 'cache-shard';
export const LB_NAMESPACE = 'envoy.lb';

/**
 * The address under which the replica copy of an IPv4 endpoint is listed at priority 1: Envoy's EDS
 * keeps one host per "ip:port" across all priorities, and `[::ffff:a.b.c.d]:p` is a different key for
 * the same socket. Needs `ipv4_compat: true` or the connect fails (V6ONLY socket).
 * @throws Error for an address that is not dotted IPv4 (there is no alias for IPv6 endpoints)
 */
export function replicaAliasAddress(ipv4: string): string {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ipv4)) throw new Error(`replica alias needs an IPv4 address, got ${JSON.stringify(ipv4)}`);
  return `::ffff:${ipv4}`;
}

function lbEndpoint(address: string, port: number, shards: readonly (string | number)[], alias: boolean): Record<string, unknown> {
  return {
    endpoint: {
      address: {
        socket_address: alias
          ? { address: replicaAliasAddress(address), port_value: port, ipv4_compat: true }
          : { address, port_value: port },
      },
    },
    // Strings, not numbers: the header value arrives as a STRING and must compare equal.
    metadata: { filter_metadata: { [LB_NAMESPACE]: { [SHARD_METADATA_KEY]: shards.map(String) } } },
  };
}

/**
 * A ClusterLoadAssignment: priority 0 holds each endpoint with the shards it leads, priority 1 each
 * endpoint with the shards it backs up (endpoints with no shards in a role are left out of that priority).
 */
export function shardLoadAssignment(
  clusterName: string,
  endpoints: readonly ShardedEndpoint[],
  replicaAddressing: ReplicaAddressing = 'alias',
): Record<string, unknown> {
  const primaries = endpoints.filter((e) => e.leads.length > 0).map((e) => lbEndpoint(e.address, e.port, e.leads, false));
  const replicas = endpoints
    .filter((e) => e.backs.length > 0)
    .map((e) => lbEndpoint(e.address, e.port, e.backs, replicaAddressing === 'alias'));
  const localities: Record<string, unknown>[] = [{ priority: 0, lb_endpoints: primaries }];
  if (replicas.length > 0) localities.push({ priority: 1, lb_endpoints: replicas });
  return {
    '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
    cluster_name: clusterName,
    endpoints: localities,
  };
}

export interface HealthCheckSettings {
  /** Default 0.5 s: failover within about a second of a node going down. */
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly unhealthyThreshold?: number;
  readonly healthyThreshold?: number;
  readonly path?: string;
}

export interface ShardClusterOptions {
  readonly name: string;
  readonly upstreamProtocol?: UpstreamProtocol;
  readonly missingHeader?: MissingHeader;
  /** Active HTTP health checking (default on); `false` leaves it out. */
  readonly healthCheck?: HealthCheckSettings | false;
  /** Passive failover: eject a host after consecutive 5xx/connect failures (default on). */
  readonly outlierDetection?: boolean;
  /**
   * common_lb_config.update_merge_window (default here 0: health and metadata changes reach the load
   * balancer at once; Envoy's own default of 1 s delays a failover or a recovery by up to a second).
   */
  readonly updateMergeWindowMs?: number;
  /** Endpoints from a file Envoy watches (path_config_source), or inline (STATIC cluster). */
  readonly endpoints: { readonly edsFile: string } | { readonly loadAssignment: Record<string, unknown> };
}

const seconds = (ms: number): string => `${ms / 1000}s`;

/** The subset-LB cluster that routes by `cache-shard` metadata, with the failover settings that work. */
export function shardCluster(opts: ShardClusterOptions): Record<string, unknown> {
  const hc = opts.healthCheck === false ? undefined : (opts.healthCheck ?? {});
  const cluster: Record<string, unknown> = {
    name: opts.name,
    connect_timeout: '0.25s',
    lb_policy: 'ROUND_ROBIN',
    lb_subset_config: {
      // No header (no metadata): any endpoint, or nothing when the route already rejected the request.
      fallback_policy: (opts.missingHeader ?? 'any') === 'any' ? 'ANY_ENDPOINT' : 'NO_FALLBACK',
      // A shard value no endpoint lists: 503, never a random node.
      subset_selectors: [{ keys: [SHARD_METADATA_KEY], fallback_policy: 'NO_FALLBACK' }],
      list_as_any: true,
    },
    common_lb_config: { update_merge_window: seconds(opts.updateMergeWindowMs ?? 0) },
  };
  if ('edsFile' in opts.endpoints) {
    cluster.type = 'EDS';
    cluster.eds_cluster_config = {
      eds_config: {
        resource_api_version: 'V3',
        path_config_source: { path: opts.endpoints.edsFile, watched_directory: { path: path.dirname(opts.endpoints.edsFile) } },
      },
    };
  } else {
    cluster.type = 'STATIC';
    // Inline, the message type is fixed: no `@type` (Envoy rejects it as an unknown field).
    const { '@type': _type, ...inline } = opts.endpoints.loadAssignment;
    cluster.load_assignment = inline;
  }
  if (opts.upstreamProtocol === 'http2') {
    cluster.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  }
  if (hc) {
    cluster.health_checks = [
      {
        timeout: seconds(hc.timeoutMs ?? 250),
        interval: seconds(hc.intervalMs ?? 500),
        no_traffic_interval: seconds(hc.intervalMs ?? 500),
        unhealthy_threshold: hc.unhealthyThreshold ?? 2,
        healthy_threshold: hc.healthyThreshold ?? 1,
        http_health_check: {
          path: hc.path ?? '/healthz',
          // An h2-only upstream fails an HTTP/1.1 health check (every host would look down).
          ...(opts.upstreamProtocol === 'http2' ? { codec_client_type: 'HTTP2' } : {}),
        },
      },
    ];
    // Otherwise a host removed by EDS lingers (with its old shard list) while it passes health checks.
    cluster.ignore_health_on_host_removal = true;
  }
  if (opts.outlierDetection ?? true) {
    cluster.outlier_detection = { consecutive_5xx: 3, interval: '0.5s', base_ejection_time: '5s', max_ejection_percent: 100 };
  }
  return cluster;
}

/** The route configuration: one route to the cluster, plus the 400 route when `missingHeader` is `reject`. */
export function shardRouteConfig(name: string, cluster: string, missingHeader: MissingHeader = 'any'): Record<string, unknown> {
  const toCluster = { cluster };
  const routes =
    missingHeader === 'reject'
      ? [
          {
            match: { prefix: '/', headers: [{ name: SHARD_HEADER, string_match: { safe_regex: { regex: '[0-9]+' } } }] },
            route: toCluster,
          },
          {
            match: { prefix: '/' },
            direct_response: { status: 400, body: { inline_string: `missing or malformed ${SHARD_HEADER} header\n` } },
          },
        ]
      : [{ match: { prefix: '/' }, route: toCluster }];
  return {
    name,
    virtual_hosts: [
      {
        name,
        domains: ['*'],
        routes,
        // A request that hits a dead primary before health checks notice is retried on the next
        // priority (the replica) instead of the same host.
        retry_policy: {
          retry_on: 'connect-failure,refused-stream,reset',
          num_retries: 2,
          retry_priority: {
            name: 'envoy.retry_priorities.previous_priorities',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig',
              update_frequency: 1,
            },
          },
        },
      },
    ],
  };
}

/** The HTTP connection manager: header_to_metadata (x-cache-shard to envoy.lb/cache-shard), then the router. */
export function shardHttpConnectionManager(routeConfig: Record<string, unknown>, statPrefix = 'cache'): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: statPrefix,
      route_config: routeConfig,
      http_filters: [
        {
          name: 'envoy.filters.http.header_to_metadata',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config',
            request_rules: [
              {
                header: SHARD_HEADER,
                on_header_present: { metadata_namespace: LB_NAMESPACE, key: SHARD_METADATA_KEY, type: 'STRING' },
                remove: false,
              },
            ],
          },
        },
        { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
      ],
    },
  };
}

export interface StaticShardBootstrapOptions extends Omit<ShardClusterOptions, 'name'> {
  readonly listenerPort: number;
  readonly clusterName?: string;
  readonly nodeId?: string;
}

/** A whole bootstrap without a control plane: static listener and cluster, endpoints inline or from a watched file. */
export function staticShardBootstrap(opts: StaticShardBootstrapOptions): Record<string, unknown> {
  const clusterName = opts.clusterName ?? 'cache';
  const missingHeader = opts.missingHeader ?? 'any';
  return {
    // A file-based EDS subscription needs node id and cluster.
    node: { id: opts.nodeId ?? 'keyway-e2e', cluster: 'keyway-e2e' },
    static_resources: {
      listeners: [
        {
          name: 'cache',
          address: { socket_address: { address: '127.0.0.1', port_value: opts.listenerPort } },
          filter_chains: [{ filters: [shardHttpConnectionManager(shardRouteConfig('cache', clusterName, missingHeader))] }],
        },
      ],
      clusters: [shardCluster({ ...opts, name: clusterName, missingHeader })],
    },
  };
}

/**
 * Writes an EDS file (a DiscoveryResponse holding one ClusterLoadAssignment) atomically: written
 * next to the target, then renamed, which is the move Envoy's watched_directory reacts to.
 */
export function writeEdsFile(file: string, version: string, loadAssignment: Record<string, unknown>): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify({ version_info: version, resources: [loadAssignment] }, null, 2));
  renameSync(tmp, file);
}
