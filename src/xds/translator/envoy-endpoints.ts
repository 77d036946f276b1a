/**
 * The Envoy flavor's ClusterLoadAssignment (EDS): every serving owner with the shards it serves as
 * load-balancer metadata, grouped by priority and locality. Ownership changes touch only this
 * resource, so they reach Envoy as EDS-only updates (no cluster or listener rebuild).
 */
import { create } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema, LbEndpointSchema, LocalityLbEndpointsSchema, type ClusterLoadAssignment, type LbEndpoint, type LocalityLbEndpoints } from '../proto.js';
import { compareLocality, type Locality } from '../../core/endpoint.js';
import { lbWeight } from '../../core/endpoint.js';
import { MAX_HOT_SHARD_READERS } from '../../core/load.js';
import { localityKey, localityMessage, socketAddress } from './envoy-core.js';
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
  // hosts arrive sorted by id within a priority
  return create(ClusterLoadAssignmentSchema, {
    clusterName,
    policy: { overprovisioningFactor: EDS_OVERPROVISIONING_FACTOR },
    endpoints: localityGroups(hosts, (h) => h.priority, (h) => h.endpoint.locality, lbEndpoint),
  });
}

/**
 * The assignment's overprovisioning factor (percent): a priority keeps all of a subset's traffic
 * while at least 1 of its MAX_HOT_SHARD_READERS hosts is healthy. A hot shard's readers share
 * priority 0 and its other owners sit at priority 1; with Envoy's default, 140, a level keeps only
 * 1.4 x its healthy share, so one reader of two down sent 30 % of the shard's requests to an owner
 * that does not read it (a cold cache), where the gRPC pickers and keyway/client keep them on the
 * healthy readers. A one-host level (a shard's primary) fails over as before: healthy or not.
 */
export const EDS_OVERPROVISIONING_FACTOR = 100 * MAX_HOT_SHARD_READERS;

/**
 * EDS groups: one LocalityLbEndpoints per (priority, locality), by priority then locality, the
 * entries in their given order within a group (Envoy takes one group per locality and priority).
 */
export function localityGroups<T>(entries: readonly T[], priority: (e: T) => number, locality: (e: T) => Locality, lb: (e: T) => LbEndpoint): LocalityLbEndpoints[] {
  const groups = new Map<string, T[]>();
  for (const e of entries) {
    const key = `${priority(e)}|${localityKey(locality(e))}`;
    const group = groups.get(key) ?? [];
    group.push(e);
    groups.set(key, group);
  }
  const ordered = [...groups.values()].sort((a, b) => priority(a[0]!) - priority(b[0]!) || compareLocality(locality(a[0]!), locality(b[0]!)));
  return ordered.map((group) => create(LocalityLbEndpointsSchema, { locality: localityMessage(locality(group[0]!)), priority: priority(group[0]!), lbEndpoints: group.map(lb) }));
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
