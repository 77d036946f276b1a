/**
 * Small hand-made xDS resources for protocol tests (real Cluster, ClusterLoadAssignment, Listener
 * and RouteConfiguration messages), shaped so that both Envoy and grpc-js-xds would accept them.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import {
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  HttpConnectionManagerSchema,
  ListenerSchema,
  RouteConfigurationSchema,
  RouterSchema,
} from '../../../src/xds/proto.js';
import type { ResourceKind, ResourceSet, TranslatedResource } from '../../../src/xds/resources.js';

const ADS = { configSourceSpecifier: { case: 'ads' as const, value: {} } };

/** An EDS cluster over ADS (round robin), optionally with a distinct EDS service name. */
export function edsCluster(name: string, opts: { serviceName?: string; connectTimeoutS?: bigint } = {}): TranslatedResource {
  return {
    name,
    schema: ClusterSchema,
    message: create(ClusterSchema, {
      name,
      clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
      edsClusterConfig: { edsConfig: ADS, serviceName: opts.serviceName ?? '' },
      lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
      connectTimeout: { seconds: opts.connectTimeoutS ?? 1n },
    }),
  };
}

/** A ClusterLoadAssignment with one locality per endpoint, each with a weight (gRPC requires both). */
export function loadAssignment(
  name: string,
  endpoints: readonly { address?: string; port: number; zone?: string; priority?: number }[],
): TranslatedResource {
  return {
    name,
    schema: ClusterLoadAssignmentSchema,
    message: create(ClusterLoadAssignmentSchema, {
      clusterName: name,
      endpoints: endpoints.map((e, i) => ({
        locality: { region: 'r1', zone: e.zone ?? `z${i}`, subZone: '' },
        loadBalancingWeight: 1,
        priority: e.priority ?? 0,
        lbEndpoints: [
          {
            hostIdentifier: {
              case: 'endpoint' as const,
              value: {
                address: {
                  address: {
                    case: 'socketAddress' as const,
                    value: { address: e.address ?? '127.0.0.1', portSpecifier: { case: 'portValue' as const, value: e.port } },
                  },
                },
              },
            },
          },
        ],
      })),
    }),
  };
}

/** An HTTP connection manager that takes its routes from RDS over ADS, ending with the router filter. */
function connectionManager(routeName: string, statPrefix = 'keyway') {
  return anyPack(
    HttpConnectionManagerSchema,
    create(HttpConnectionManagerSchema, {
      statPrefix,
      routeSpecifier: { case: 'rds', value: { configSource: ADS, routeConfigName: routeName } },
      httpFilters: [{ name: 'envoy.filters.http.router', configType: { case: 'typedConfig', value: anyPack(RouterSchema, create(RouterSchema)) } }],
    }),
  );
}

/** A gRPC-style API listener named after the target, using RDS `routeName`. */
export function apiListener(name: string, routeName: string, statPrefix = 'keyway'): TranslatedResource {
  return {
    name,
    schema: ListenerSchema,
    message: create(ListenerSchema, { name, apiListener: { apiListener: connectionManager(routeName, statPrefix) } }),
  };
}

/** An Envoy-style TCP listener on `port` whose filter chain holds the connection manager. */
export function tcpListener(name: string, port: number, routeName: string): TranslatedResource {
  return {
    name,
    schema: ListenerSchema,
    message: create(ListenerSchema, {
      name,
      address: { address: { case: 'socketAddress', value: { address: '0.0.0.0', portSpecifier: { case: 'portValue', value: port } } } },
      filterChains: [
        { filters: [{ name: 'envoy.filters.network.http_connection_manager', configType: { case: 'typedConfig', value: connectionManager(routeName) } }] },
      ],
    }),
  };
}

/** A route configuration with one virtual host sending every request to `cluster`. */
export function routeTo(name: string, cluster: string, domains: readonly string[] = ['*']): TranslatedResource {
  return {
    name,
    schema: RouteConfigurationSchema,
    message: create(RouteConfigurationSchema, {
      name,
      virtualHosts: [
        {
          name: 'all',
          domains: [...domains],
          routes: [
            {
              match: { pathSpecifier: { case: 'prefix', value: '' } },
              action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: cluster } } },
            },
          ],
        },
      ],
    }),
  };
}

/**
 * A route configuration that sends `x-cache-shard: N` to `byShard[N]` (exact string match, which
 * both Envoy and grpc-js-xds honour) and everything else to `fallback`.
 */
export function shardRoutes(name: string, byShard: Readonly<Record<string, string>>, fallback: string): TranslatedResource {
  const toCluster = (cluster: string) => ({ case: 'route' as const, value: { clusterSpecifier: { case: 'cluster' as const, value: cluster } } });
  return {
    name,
    schema: RouteConfigurationSchema,
    message: create(RouteConfigurationSchema, {
      name,
      virtualHosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [
            ...Object.entries(byShard).map(([shard, cluster]) => ({
              match: {
                pathSpecifier: { case: 'prefix' as const, value: '' },
                headers: [{ name: 'x-cache-shard', headerMatchSpecifier: { case: 'stringMatch' as const, value: { matchPattern: { case: 'exact' as const, value: shard } } } }],
              },
              action: toCluster(cluster),
            })),
            { match: { pathSpecifier: { case: 'prefix', value: '' } }, action: toCluster(fallback) },
          ],
        },
      ],
    }),
  };
}

/** Assembles a ResourceSet, each kind sorted by name. */
export function resourceSet(parts: Partial<Record<ResourceKind, readonly TranslatedResource[]>>): ResourceSet {
  const sorted = (rs: readonly TranslatedResource[] = []) => [...rs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    cluster: sorted(parts.cluster),
    endpoint: sorted(parts.endpoint),
    listener: sorted(parts.listener),
    route: sorted(parts.route),
  };
}

export interface MiniTopology {
  /** Cluster name → endpoint ports on 127.0.0.1. */
  readonly clusters: Readonly<Record<string, readonly number[]>>;
  /** Listener (target) name; its route sends everything to `routeCluster`. */
  readonly listener?: string;
  readonly route?: string;
  readonly routeCluster?: string;
  /** Extra ClusterLoadAssignments nobody references (probes for ordering barriers). */
  readonly extraEndpoints?: Readonly<Record<string, readonly number[]>>;
  /** Header routes: shard → cluster (the rest go to `routeCluster`). */
  readonly shardRoutes?: Readonly<Record<string, string>>;
  /** Changes the listener without changing its route name. */
  readonly statPrefix?: string;
  /** Changes the clusters' connect timeout, to make a cluster-only change. */
  readonly connectTimeoutS?: bigint;
}

/** A consistent set: an EDS cluster + CLA per entry, an API listener and its route. */
export function miniSet(t: MiniTopology): ResourceSet {
  const names = Object.keys(t.clusters);
  const listener = t.listener ?? 'cache.svc';
  const route = t.route ?? 'cache-route';
  return resourceSet({
    cluster: names.map((n) => edsCluster(n, { connectTimeoutS: t.connectTimeoutS })),
    endpoint: [
      ...names.map((n) => loadAssignment(n, t.clusters[n]!.map((port) => ({ port })))),
      ...Object.entries(t.extraEndpoints ?? {}).map(([n, ports]) => loadAssignment(n, ports.map((port) => ({ port })))),
    ],
    listener: [apiListener(listener, route, t.statPrefix)],
    route: [t.shardRoutes ? shardRoutes(route, t.shardRoutes, t.routeCluster ?? names[0]!) : routeTo(route, t.routeCluster ?? names[0]!)],
  });
}
