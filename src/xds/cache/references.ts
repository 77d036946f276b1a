/**
 * The names one xDS resource makes a proxy ask for next: an EDS cluster names a
 * ClusterLoadAssignment, an HTTP connection manager names a RouteConfiguration (xDS protocol,
 * "resource types" and "eventual consistency considerations").
 */
import { anyIs, anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { isMessage, type Message } from '@bufbuild/protobuf';
import {
  ClusterSchema,
  Cluster_DiscoveryType,
  HttpConnectionManagerSchema,
  ListenerSchema,
  type FilterChain,
} from '../proto.js';

/**
 * EDS names referenced by a cluster (its `eds_cluster_config.service_name`, else its own name, as
 * Envoy and gRPC resolve it) or RDS names referenced by a listener's HTTP connection managers (in
 * filter chains or in an `api_listener`). Empty for every other message.
 */
export function referencedNames(message: Message): string[] {
  if (isMessage(message, ClusterSchema)) {
    const type = message.clusterDiscoveryType;
    if (type.case === 'type' && type.value === Cluster_DiscoveryType.EDS) {
      return [message.edsClusterConfig?.serviceName || message.name];
    }
    return [];
  }
  if (isMessage(message, ListenerSchema)) {
    const configs: Any[] = [];
    const chains: FilterChain[] = [...message.filterChains];
    if (message.defaultFilterChain) chains.push(message.defaultFilterChain);
    for (const chain of chains) {
      for (const filter of chain.filters) {
        if (filter.configType.case === 'typedConfig') configs.push(filter.configType.value);
      }
    }
    if (message.apiListener?.apiListener) configs.push(message.apiListener.apiListener);
    const names: string[] = [];
    for (const config of configs) {
      if (!anyIs(config, HttpConnectionManagerSchema)) continue;
      const hcm = anyUnpack(config, HttpConnectionManagerSchema);
      if (hcm?.routeSpecifier.case === 'rds') names.push(hcm.routeSpecifier.value.routeConfigName);
    }
    return [...new Set(names)];
  }
  return [];
}
