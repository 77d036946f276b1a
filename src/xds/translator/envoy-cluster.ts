/**
 * The Envoy flavor's one cluster (CDS): EDS over ADS, subset load balancing on `cache-shard`, the
 * failover settings, and the upstream protocol. It depends only on the settings, never on
 * ownership, so an ownership change leaves it untouched (no cluster rebuild, no re-warming).
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import {
  ClusterSchema,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  Cluster_LbSubsetConfigSchema,
  Cluster_LbSubsetConfig_LbSubsetFallbackPolicy as FallbackPolicy,
  Cluster_LbSubsetConfig_LbSubsetSelector_LbSubsetSelectorFallbackPolicy as SelectorFallbackPolicy,
  HttpProtocolOptionsSchema,
  type Cluster,
} from '../proto.js';
import type { EnvoySettings } from '../../core/settings.js';
import { adsConfigSource, duration } from './envoy-core.js';
import { clusterCircuitBreakers, healthChecks, outlierDetection } from './envoy-failover.js';
import { HTTP_PROTOCOL_OPTIONS_KEY, SHARD_METADATA_KEY } from './names.js';

/** Short, because a connect that does not complete fast on a LAN means a dead node; a retry follows. */
export const CONNECT_TIMEOUT_MS = 250;

/**
 * Envoy closes an upstream connection idle this long, below the keep-alive of common cache
 * servers (Node's and uvicorn's 5 s): with Envoy's default (1 h) it reused a connection the node
 * was closing, and a request whose body is past the retry buffer (1 MiB) then failed 503 UC
 * (measured through Envoy on the endpoint picker's gateway, docs/gateways.md).
 */
export const UPSTREAM_IDLE_TIMEOUT_MS = 4_000;

/**
 * Builds the cluster `name` (Envoy subset load balancer, xDS CDS).
 * - One selector on `cache-shard` with `list_as_any`: an endpoint whose metadata lists
 *   ["3","7"] joins the subsets for shard 3 and for shard 7.
 * - The selector's own fallback is NO_FALLBACK, so a header naming a shard nobody owns (or not a
 *   shard at all) gets 503 rather than a wrong node. The top-level fallback covers requests with
 *   no shard metadata at all, i.e. without the header: ANY_ENDPOINT for missingHeader=any,
 *   NO_FALLBACK for reject (the route answers 400 before the cluster is reached).
 * - ignore_health_on_host_removal: a host removed from the assignment leaves at once instead of
 *   lingering with its old shard list while its health check still passes (findings 2d).
 * - update_merge_window 0: a health change reaches the load balancer at once; Envoy's default 1 s
 *   delays every failover and recovery by up to a second (findings 2e). keyway's own hold-off
 *   already coalesces ownership changes.
 */
export function envoyCluster(name: string, envoy: EnvoySettings): Cluster {
  // Its name is the service, a valid Host, which Envoy's health check sends by default.
  const cluster = envoyNodeCluster(name, envoy);
  cluster.lbSubsetConfig = create(Cluster_LbSubsetConfigSchema, {
    fallbackPolicy: envoy.missingHeader === 'any' ? FallbackPolicy.ANY_ENDPOINT : FallbackPolicy.NO_FALLBACK,
    subsetSelectors: [{ keys: [SHARD_METADATA_KEY], fallbackPolicy: SelectorFallbackPolicy.NO_FALLBACK }],
    listAsAny: true,
  });
  return cluster;
}

/**
 * The cluster `name` without subsets (xDS CDS): EDS over ADS, round robin, the failover settings
 * and the upstream protocol; `healthHost`, the health check's Host when the name is no valid one
 * (the route-table shape's `<service>/node/<id>`: it passes the service). The route-table shape
 * gives each node one (envoy-route-table.ts), and keeps it from one translation to the next by
 * name (which holds the service) and settings object (index.ts), so it must depend on nothing else.
 */
export function envoyNodeCluster(name: string, envoy: EnvoySettings, healthHost?: string): Cluster {
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: adsConfigSource() },
    connectTimeout: duration(CONNECT_TIMEOUT_MS),
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
    healthChecks: healthChecks(envoy.upstreamProtocol, healthHost),
    ignoreHealthOnHostRemoval: true,
    commonLbConfig: { updateMergeWindow: duration(0) },
    outlierDetection: outlierDetection(),
    circuitBreakers: clusterCircuitBreakers(),
    typedExtensionProtocolOptions: { [HTTP_PROTOCOL_OPTIONS_KEY]: protocolOptions(envoy.upstreamProtocol) },
  });
}

/** HTTP/1.1, or cleartext HTTP/2 (h2c, e.g. gRPC cache nodes), to every upstream; idle connections closed first. */
function protocolOptions(protocol: EnvoySettings['upstreamProtocol']) {
  return anyPack(
    HttpProtocolOptionsSchema,
    create(HttpProtocolOptionsSchema, {
      commonHttpProtocolOptions: { idleTimeout: duration(UPSTREAM_IDLE_TIMEOUT_MS) },
      upstreamProtocolOptions: {
        case: 'explicitHttpConfig',
        value: { protocolConfig: protocol === 'http2' ? { case: 'http2ProtocolOptions', value: {} } : { case: 'httpProtocolOptions', value: {} } },
      },
    }),
  );
}
