/**
 * The names one xDS resource makes a proxy ask for next: an EDS cluster names a
 * ClusterLoadAssignment, an HTTP connection manager names a RouteConfiguration, a route names
 * clusters (which gRPC clients, unlike Envoy, subscribe to by name) (xDS protocol,
 * "resource types" and "eventual consistency considerations"). The one walk over these references:
 * the encoder records them and the translator's consistency check reads them from here.
 */
import { anyIs, anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { isMessage, type Message } from '@bufbuild/protobuf';
import {
  ClusterSchema,
  Cluster_DiscoveryType,
  HttpConnectionManagerSchema,
  ListenerSchema,
  RouteConfigurationSchema,
  type Cluster,
  type HttpConnectionManager,
  type Listener,
  type RouteConfiguration,
} from './proto.js';

/**
 * The EDS name of an EDS cluster (its `eds_cluster_config.service_name`, else its own name, as
 * Envoy and gRPC resolve it); undefined for a cluster of any other discovery type.
 */
export function edsServiceName(cluster: Cluster): string | undefined {
  const type = cluster.clusterDiscoveryType;
  if (type.case !== 'type' || type.value !== Cluster_DiscoveryType.EDS) return undefined;
  return cluster.edsClusterConfig?.serviceName || cluster.name;
}

/** The HTTP connection managers of a listener: in its filter chains, default chain and `api_listener`. */
export function connectionManagers(listener: Listener): HttpConnectionManager[] {
  const configs: Any[] = [];
  for (const chain of [...listener.filterChains, ...(listener.defaultFilterChain ? [listener.defaultFilterChain] : [])]) {
    for (const filter of chain.filters) {
      if (filter.configType.case === 'typedConfig') configs.push(filter.configType.value);
    }
  }
  if (listener.apiListener?.apiListener) configs.push(listener.apiListener.apiListener);
  return configs.flatMap((config) => {
    const hcm = anyIs(config, HttpConnectionManagerSchema) ? anyUnpack(config, HttpConnectionManagerSchema) : undefined;
    return hcm ? [hcm] : [];
  });
}

/** The clusters a route configuration's routes send to (`cluster` and `weighted_clusters` actions), once each. */
export function routeClusters(config: RouteConfiguration): string[] {
  const names = new Set<string>();
  for (const vh of config.virtualHosts) {
    for (const route of vh.routes) {
      if (route.action.case !== 'route') continue;
      const spec = route.action.value.clusterSpecifier;
      if (spec.case === 'cluster') names.add(spec.value);
      else if (spec.case === 'weightedClusters') for (const c of spec.value.clusters) names.add(c.name);
    }
  }
  return [...names];
}

/**
 * EDS names referenced by a cluster ({@link edsServiceName}), RDS names referenced by a
 * listener's HTTP connection managers, or clusters a route configuration sends to
 * ({@link routeClusters}; a gRPC client subscribes to each). Empty for every other message.
 */
export function referencedNames(message: Message): string[] {
  if (isMessage(message, RouteConfigurationSchema)) return routeClusters(message);
  if (isMessage(message, ClusterSchema)) {
    const name = edsServiceName(message);
    return name === undefined ? [] : [name];
  }
  if (isMessage(message, ListenerSchema)) {
    const names = connectionManagers(message).flatMap((hcm) =>
      hcm.routeSpecifier.case === 'rds' ? [hcm.routeSpecifier.value.routeConfigName] : [],
    );
    return [...new Set(names)];
  }
  return [];
}
