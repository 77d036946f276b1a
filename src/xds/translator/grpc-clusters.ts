/**
 * The proxyless gRPC flavor's clusters (CDS) and their endpoints (EDS). gRPC ignores subset load
 * balancing, so each distinct owner tuple gets its own EDS cluster, and the tuple's order becomes
 * EDS priorities: the primary at priority 0, replicas at 1, 2, ... gRPC's priority policy uses a
 * lower priority only while every higher one is failing, which is primary-before-replica.
 */
import { create } from '@bufbuild/protobuf';
import {
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  type Cluster,
  type ClusterLoadAssignment,
  type LocalityLbEndpointsSchema,
} from '../proto.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { compareLocality, lbWeight, type Endpoint } from '../../core/endpoint.js';
import type { ProxyClass } from '../resources.js';
import { compareStrings } from '../../core/order.js';
import { addressKey } from './serving.js';
import { clusterCircuitBreakers } from './envoy-failover.js';
import {
  adsConfigSource,
  localityKey,
  localityMessage,
  localityWeight,
  socketAddress,
} from './envoy-core.js';

/** EDS-over-ADS cluster `name`, ROUND_ROBIN (gRPC supports only ROUND_ROBIN and RING_HASH). */
export function grpcCluster(name: string): Cluster {
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: adsConfigSource() },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
    // gRPC caps a cluster at 1024 calls in flight without it; a hot owner tuple's calls may pass that.
    circuitBreakers: clusterCircuitBreakers(),
  });
}

/**
 * The ClusterLoadAssignment of an owner tuple: one priority per owner, primary first. Replicas are
 * ordered by nearness to the proxy (same NVLink fabric, then same zone), then by rank, so a client
 * fails over to a replica it can reach fastest; the primary stays at priority 0 whatever the proxy.
 * gRPC drops a locality without a load_balancing_weight, so every one carries a weight.
 */
export function grpcOwnersLoadAssignment(name: string, owners: readonly Endpoint[], proxy: ProxyClass, readers = 1): ClusterLoadAssignment {
  const k = Math.max(1, Math.min(readers, owners.length));
  if (k > 1) {
    // A hot shard (docs/hot-shards.md): its first k owners share priority 0, weighted by locality
    // weight (the sum of their weights; round robin within one locality), the rest fail over after.
    const groups = new Map<string, Endpoint[]>();
    for (const e of [...owners.slice(0, k)].sort((a, b) => compareStrings(a.id, b.id))) {
      const key = localityKey(e.locality);
      groups.set(key, [...(groups.get(key) ?? []), e]);
    }
    const first = [...groups.values()].sort((a, b) => compareLocality(a[0]!.locality, b[0]!.locality)).map((g) => localityGroup(g, 0));
    const rest = orderByNearness(owners.slice(k), proxy).map((e, i) => localityGroup([e], i + 1));
    return create(ClusterLoadAssignmentSchema, { clusterName: name, endpoints: [...first, ...rest] });
  }
  const [primary, ...replicas] = owners;
  const ordered = primary === undefined ? [] : [primary, ...orderByNearness(replicas, proxy)];
  return create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: ordered.map((e, priority) => localityGroup([e], priority)),
  });
}

/** The catch-all ClusterLoadAssignment (missingHeader=any): every serving owner at priority 0, by locality. */
export function grpcAnyLoadAssignment(name: string, endpoints: readonly Endpoint[]): ClusterLoadAssignment {
  const groups = new Map<string, Endpoint[]>();
  for (const e of endpoints) {
    const key = localityKey(e.locality);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const ordered = [...groups.values()].sort((a, b) => compareLocality(a[0]!.locality, b[0]!.locality));
  return create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: ordered.map((group) => localityGroup(group, 0)),
  });
}

/**
 * The shard picker cluster's ClusterLoadAssignment: every serving endpoint once, priority 0, one
 * locality group per endpoint locality, endpoints by address:port. The picker chooses by its owner
 * table, not by priority; round robin (the fallback) spreads over all of them.
 */
export function grpcPickerLoadAssignment(name: string, endpoints: readonly Endpoint[]): ClusterLoadAssignment {
  const sorted = [...endpoints].sort((a, b) => compareStrings(addressKey(a), addressKey(b)));
  const groups = new Map<string, Endpoint[]>();
  for (const e of sorted) {
    const key = localityKey(e.locality);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const ordered = [...groups.values()].sort((a, b) => compareLocality(a[0]!.locality, b[0]!.locality));
  return create(ClusterLoadAssignmentSchema, { clusterName: name, endpoints: ordered.map((group) => localityGroup(group, 0)) });
}

/** Endpoints of one locality (all in it, sorted by id by the caller) at `priority`. */
function localityGroup(endpoints: readonly Endpoint[], priority: number): MessageInitShape<typeof LocalityLbEndpointsSchema> {
  const weights = endpoints.map((e) => lbWeight(e.weight));
  return {
    locality: localityMessage(endpoints[0]!.locality),
    priority,
    loadBalancingWeight: localityWeight(weights),
    lbEndpoints: endpoints.map((e, i) => ({
      hostIdentifier: { case: 'endpoint', value: { address: socketAddress(e.address, e.port), hostname: e.id } },
      loadBalancingWeight: weights[i]!,
    })),
  };
}

/**
 * How near an endpoint is to a stock gRPC client in (zone, subzone): 2 same fabric (in the same
 * zone, when the client has one), 1 same zone, else 0. The failover order below, and the proxy
 * classes that share it (served-class.ts), both read it.
 */
export function nearnessTo(zone: string, subzone: string): (e: Endpoint) => number {
  return (e) => {
    const sameZone = zone !== '' && e.locality.zone === zone;
    const sameFabric = subzone !== '' && e.locality.subzone === subzone && (zone === '' || sameZone);
    return sameFabric ? 2 : sameZone ? 1 : 0;
  };
}

/** Stable sort: same fabric as the proxy first, then same zone, otherwise rank order. */
function orderByNearness(replicas: readonly Endpoint[], proxy: ProxyClass): Endpoint[] {
  const nearness = nearnessTo(proxy.zone, proxy.subzone);
  return replicas
    .map((e, rank) => ({ e, rank, near: nearness(e) }))
    .sort((a, b) => b.near - a.near || a.rank - b.rank)
    .map(({ e }) => e);
}
