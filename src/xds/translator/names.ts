/**
 * Names keyway gives its xDS resources and the wire-level constants proxies must agree on
 * (docs/xds.md, the names table). Resource names are part of the contract with the proxies: a proxyless gRPC
 * client asks for the listener by its target name, and Envoy keys warming and stats by cluster name.
 */

/** The request header that carries the shard number as decimal text (docs/architecture.md "Vocabulary"). */
export const SHARD_HEADER = 'x-cache-shard';
/** Metadata namespace read by Envoy's subset load balancer. */
export const LB_METADATA_NAMESPACE = 'envoy.lb';
/** Metadata key under LB_METADATA_NAMESPACE holding an endpoint's shards as a list of strings. */
export const SHARD_METADATA_KEY = 'cache-shard';

/** Well-known Envoy extension names (the `name` next to a typed_config). */
export const HTTP_CONNECTION_MANAGER_FILTER = 'envoy.filters.network.http_connection_manager';
export const HEADER_TO_METADATA_FILTER = 'envoy.filters.http.header_to_metadata';
export const ROUTER_FILTER = 'envoy.filters.http.router';
export const LUA_FILTER = 'envoy.filters.http.lua';
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
export const PREVIOUS_PRIORITIES_RETRY = 'envoy.retry_priorities.previous_priorities';

/** Listener, route configuration and (Envoy) cluster all carry the service name. */
export function listenerName(service: string): string {
  return service;
}

/** The RouteConfiguration the listener's RDS config names (docs/xds.md, the names table); the consistency check requires it to exist. */
export function routeConfigName(service: string): string {
  return service;
}

/** Envoy flavor: the one subset-load-balanced cluster, and its ClusterLoadAssignment. */
export function envoyClusterName(service: string): string {
  return service;
}

/** Envoy flavor, route-table shape: one cluster per serving node. */
export function envoyNodeClusterName(service: string, id: string): string {
  return `${service}/node/${id}`;
}

/**
 * Proxyless gRPC flavor: one cluster per distinct owner tuple (primary first). Endpoint ids never
 * contain ',' (ENDPOINT_ID_PATTERN), so the joined list is unambiguous; shards with the same owners
 * share a cluster, so there are far fewer clusters than shards. A hot shard read by k > 1 owners at
 * once (docs/hot-shards.md) gets its own `.../readers=k` cluster.
 */
export function grpcOwnersClusterName(service: string, owners: readonly string[], readers = 1): string {
  // A hot shard's tuple read by k owners at once is another cluster: `=` never occurs in an id.
  return readers > 1 ? `${service}/owners/${owners.join(',')}/readers=${readers}` : `${service}/owners/${owners.join(',')}`;
}

/**
 * Proxyless gRPC flavor, clients with the shard picker: the one cluster (the shard-picker contract
 * names it; one per service keyway serves, so it needs no service prefix).
 */
export function grpcPickerClusterName(): string {
  return 'keyway-shards';
}

/** Proxyless gRPC flavor with missingHeader=any: the catch-all cluster of every serving owner. */
export function grpcAnyClusterName(service: string): string {
  return `${service}/any`;
}
