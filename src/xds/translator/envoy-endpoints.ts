/**
 * The Envoy flavor's ClusterLoadAssignment (EDS): every serving owner with the shards it serves as
 * load-balancer metadata, grouped by priority and locality. Ownership changes touch only this
 * resource, so they reach Envoy as EDS-only updates (no cluster or listener rebuild).
 */
import { create } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema, LbEndpointSchema, type ClusterLoadAssignment, type LbEndpoint } from '../proto.js';
import { compareLocality } from '../../core/endpoint.js';
import { lbWeight, localityKey, localityMessage, socketAddress } from './envoy-core.js';
import type { EnvoyHost } from './envoy-placement.js';
import { LB_METADATA_NAMESPACE, SHARD_METADATA_KEY } from './names.js';

/**
 * Builds the ClusterLoadAssignment `clusterName` from placed hosts. Each lb_endpoint carries
 * filter_metadata["envoy.lb"]["cache-shard"] = the shards as decimal strings: the subset load
 * balancer compares them with the header value, which header_to_metadata stores as a STRING, and
 * `list_as_any` makes each list element its own subset. Envoy ignores locality weights unless
 * locality-weighted load balancing is on, so none are set here.
 */
export function envoyLoadAssignment(clusterName: string, hosts: readonly EnvoyHost[]): ClusterLoadAssignment {
  const groups = new Map<string, EnvoyHost[]>();
  for (const h of hosts) {
    const key = `${h.priority}|${localityKey(h.endpoint.locality)}`;
    const group = groups.get(key) ?? [];
    group.push(h);
    groups.set(key, group);
  }
  const ordered = [...groups.values()].sort(
    (a, b) => a[0]!.priority - b[0]!.priority || compareLocality(a[0]!.endpoint.locality, b[0]!.endpoint.locality),
  );
  return create(ClusterLoadAssignmentSchema, {
    clusterName,
    endpoints: ordered.map((group) => ({
      locality: localityMessage(group[0]!.endpoint.locality),
      priority: group[0]!.priority,
      lbEndpoints: group.map(lbEndpoint), // hosts arrive sorted by id within a priority
    })),
  });
}

function lbEndpoint(h: EnvoyHost): LbEndpoint {
  return create(LbEndpointSchema, {
    hostIdentifier: {
      case: 'endpoint',
      value: {
        address: socketAddress(h.address, h.endpoint.port, h.ipv4Compat),
        // Shown by Envoy's /clusters admin page: tells which cache node a host entry is.
        hostname: h.endpoint.id,
        // The node's own entry carries its active health check; its alias follows outlier detection.
        ...(h.healthChecked ? {} : { healthCheckConfig: { disableActiveHealthCheck: true } }),
      },
    },
    metadata: { filterMetadata: { [LB_METADATA_NAMESPACE]: { [SHARD_METADATA_KEY]: h.shards.map(String) } } },
    loadBalancingWeight: lbWeight(h.endpoint.weight),
  });
}
