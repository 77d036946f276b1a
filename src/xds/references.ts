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
  RouteSchema,
  type Matcher,
  type Matcher_OnMatch,
  type Route,
  type VirtualHost,
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
  for (const vh of config.virtualHosts) for (const c of virtualHostClusters(vh)) names.add(c);
  return [...names];
}

/** The clusters one virtual host's routes send to, its matcher's routes included, in order, with repeats. */
export function virtualHostClusters(vh: VirtualHost): string[] {
  const out: string[] = [];
  for (const route of [...vh.routes, ...matcherRoutes(vh.matcher)]) {
    if (route.action.case !== 'route') continue;
    const spec = route.action.value.clusterSpecifier;
    if (spec.case === 'cluster') out.push(spec.value);
    else if (spec.case === 'weightedClusters') for (const c of spec.value.clusters) out.push(c.name);
  }
  return out;
}

/** The Route actions of a virtual host's matcher (the route-table shape), nested matchers included. */
function matcherRoutes(matcher: Matcher | undefined): Route[] {
  if (!matcher) return [];
  // concat, not push(...): a route table has one entry per shard, and a spread of 10^5 arguments
  // overflows the stack.
  let onMatches: (Matcher_OnMatch | undefined)[] = [matcher.onNoMatch];
  const type = matcher.matcherType;
  if (type.case === 'matcherTree') {
    const tree = type.value.treeType;
    if (tree.case === 'exactMatchMap' || tree.case === 'prefixMatchMap') onMatches = onMatches.concat(Object.values(tree.value.map));
  } else if (type.case === 'matcherList') {
    onMatches = onMatches.concat(type.value.matchers.map((m) => m.onMatch));
  }
  return onMatches.flatMap((m) => {
    if (m?.onMatch.case === 'matcher') return matcherRoutes(m.onMatch.value);
    const config = m?.onMatch.case === 'action' ? m.onMatch.value.typedConfig : undefined;
    return config && anyIs(config, RouteSchema) ? [unpackedRoute(config)] : [];
  });
}

/** Routes unpacked per Any object: a route table's entries share one packed Route per distinct target. */
const unpacked = new WeakMap<Any, Route>();

function unpackedRoute(config: Any): Route {
  let route = unpacked.get(config);
  if (!route) {
    route = anyUnpack(config, RouteSchema)!;
    unpacked.set(config, route);
  }
  return route;
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
