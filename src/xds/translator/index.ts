/**
 * The translator (docs/architecture.md "The pipeline"): a shard map, the topology's xDS settings and a proxy
 * class in, every xDS resource that proxy class needs out (for an ownership agent: its shard
 * assignments, docs/ownership.md). Pure and deterministic: no I/O, no
 * clock, names and lists sorted, so equal input gives byte-equal resources and equal versions.
 * docs/xds.md describes each resource and why it looks the way it does.
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema, ClusterSchema, ListenerSchema, RouteConfigurationSchema } from '../proto.js';
import type { Endpoint } from '../../core/endpoint.js';
import type { HandoffState } from '../../core/handoff.js';
import type { EnvoySettings, Topology } from '../../core/settings.js';
import type { ShardMap } from '../../core/shard-map.js';
import type { ProxyClass, ResourceSet, TranslatedResource } from '../resources.js';
import { compareStrings } from '../../core/order.js';
import type { AssignmentInput } from './agent-assignments.js';
import { boundedClass, knownPlaces } from './served-class.js';
import { envoyCluster, envoyNodeCluster } from './envoy-cluster.js';
import { envoyNodeLoadAssignment, envoyRouteTableConfiguration, planRouteTable, type Backup } from './envoy-route-table.js';
import { endpointKey, placeKey, PreviousTranslation } from './reuse.js';
import { envoyLoadAssignment } from './envoy-endpoints.js';
import { envoyListener } from './envoy-listener.js';
import { placeEnvoyHosts } from './envoy-placement.js';
import { envoyRouteConfiguration } from './envoy-routes.js';
import { grpcAnyLoadAssignment, grpcCluster, grpcOwnersLoadAssignment, grpcPickerLoadAssignment } from './grpc-clusters.js';
import { grpcPickerCluster, grpcPickerRouteConfiguration, shardPickerConfig } from './grpc-picker.js';
import { grpcListener } from './grpc-listener.js';
import { grpcPickerSizeWarning, grpcSizeWarnings } from './grpc-size.js';
import { grpcRouteConfiguration, type ShardRoute } from './grpc-routes.js';
import {
  envoyClusterName,
  envoyNodeClusterName,
  grpcAnyClusterName,
  grpcOwnersClusterName,
  grpcPickerClusterName,
  listenerName,
  routeConfigName,
} from './names.js';
import { servingOwners, type ServingOwners } from './serving.js';
import { agentAssignments } from './agent-assignments.js';

export { checkConsistency } from './consistency.js';
export { resourceSetToJson, resourceToJson } from './resource-json.js';
export { XDS_REGISTRY } from './registry.js';
export { agentAssignments } from './agent-assignments.js';
export { HEALTH_CHECK_TIMING, CIRCUIT_BREAKER_LIMIT, healthChecks } from './envoy-failover.js';
export { badBinaryKeyMessage, badShardMessage, keyShardLuaScript, repeatedKeyMessage } from './envoy-key-shard.js';
export { missingShardMessage } from './envoy-routes.js';
export { SHARD_HEADER, routeConfigName } from './names.js';

/** What the translator reads: the current shard map and the topology it was computed from. */
export interface TranslatorInput {
  readonly shardMap: ShardMap;
  /** Only `xds` (service, Envoy settings) is read; endpoints and policy come from the shard map. */
  readonly topology: Topology;
  /** The serving view's handoff state (transitions, drains): read for ownership agents only. */
  readonly handoff?: HandoffState | undefined;
}

export interface Translation {
  readonly resources: ResourceSet;
  /** Conditions worth a log line (owners left out, addresses proxies will reject); empty normally. */
  readonly warnings: readonly string[];
}

/**
 * Translates the shard map into the xDS resources for one proxy class (docs/xds.md).
 * Envoy proxies get one subset-load-balanced cluster (or, with `envoy.routeShape: table`, a
 * cluster per node, its shards' other owners its fallback, behind a shard matcher); proxyless gRPC clients get per-shard routes
 * to one cluster per owner tuple, or with the shard picker one route to one cluster whose policy
 * holds the owner table; an ownership agent gets its shard assignments only
 * (docs/ownership.md). Every list is sorted by resource name.
 */
export function translate(input: TranslatorInput, proxy: ProxyClass): ResourceSet {
  return translateWithWarnings(input, proxy).resources;
}

/** As {@link translate}, plus the warnings the server logs (when one appears, changes or comes back, and hourly while it stands: docs/observability.md "Logs"). */
export function translateWithWarnings(input: TranslatorInput, proxy: ProxyClass): Translation {
  if (proxy.flavor === 'agent') return translateAgent(input, proxy);
  return proxy.flavor === 'grpc' ? translateGrpc(input, proxy) : translateEnvoy(input);
}

/**
 * The proxy class whose resources `proxy` receives: Envoy output does not depend on the proxy's
 * locality, so every Envoy shares one variant; gRPC output orders replicas by the proxy's zone and
 * fabric (a picker client's does not: its owner table is the same for all); an agent's output
 * depends on its node id only. A snapshot cache keyed by this class
 * encodes each distinct variant once. Given the translator input, classes are bounded by its
 * topology: a zone, subzone or agent node it does not know does not make a class of its own.
 */
export function effectiveProxyClass(proxy: ProxyClass, input?: AssignmentInput): ProxyClass {
  const c: ProxyClass =
    proxy.flavor === 'agent'
      ? { flavor: 'agent', zone: '', subzone: '', node: proxy.node ?? '' }
      : proxy.flavor === 'envoy'
        ? { flavor: 'envoy', zone: '', subzone: '' }
        : proxy.picker === true
          ? { flavor: proxy.flavor, zone: '', subzone: '', picker: true }
          : { flavor: proxy.flavor, zone: proxy.zone, subzone: proxy.subzone };
  // With the input being translated, what the topology does not know shares one class (served-class.ts).
  return input ? boundedClass(c, knownPlaces(input)) : c;
}

function translateAgent({ shardMap, handoff }: TranslatorInput, proxy: ProxyClass): Translation {
  const own = agentAssignments({ shardMap, handoff }, proxy.node ?? '');
  return { resources: { cluster: [], endpoint: [], listener: [], route: [], assignment: own.resources }, warnings: own.warnings };
}

function translateEnvoy({ shardMap, topology }: TranslatorInput): Translation {
  const { service, envoy, routing } = topology.xds;
  const shardCount = shardMap.policy.shardCount;
  const serving = servingOwners(shardMap);
  if (envoy.routeShape === 'table') return translateEnvoyRouteTable({ shardMap, topology }, serving);
  const placement = placeEnvoyHosts(serving.owners, serving.readers);
  const cluster = envoyClusterName(service);
  const routes = routeConfigName(service);
  return {
    resources: {
      cluster: [resource(ClusterSchema, cluster, envoyCluster(cluster, envoy))],
      endpoint: [resource(ClusterLoadAssignmentSchema, cluster, envoyLoadAssignment(cluster, placement.hosts))],
      listener: [resource(ListenerSchema, listenerName(service), envoyListener(listenerName(service), routes, shardCount, routing.keyHeader, envoy))],
      route: [
        resource(
          RouteConfigurationSchema,
          routes,
          envoyRouteConfiguration(routes, cluster, envoy.missingHeader, shardCount, routing.keyHeader, envoy.perTryTimeoutMs),
        ),
      ],
    },
    warnings: [...serving.warnings, ...placement.warnings],
  };
}

/** The route-table shape (envoy-route-table.ts): a cluster per node (its shards' other owners as its fallback), a shard matcher. */
function translateEnvoyRouteTable({ shardMap, topology }: TranslatorInput, serving: ServingOwners): Translation {
  const { service, envoy, routing } = topology.xds;
  const shardCount = shardMap.policy.shardCount;
  const plan = planRouteTable(service, serving.owners, serving.readers, serving.endpoints);
  const clusters: TranslatedResource[] = [];
  const assignments: TranslatedResource[] = [];
  const nodeClusters = nodeClustersOf(envoy);
  // A cluster for every node that can serve, not only those routed to: a draining node keeps its
  // cluster after its routes moved off it, since Envoy may apply the cluster update before the
  // route update and would answer requests still on the old routes with 503 (no cluster).
  for (const node of serving.usable) {
    const name = envoyNodeClusterName(service, node.id);
    clusters.push(nodeClusters.get(name, () => resource(ClusterSchema, name, envoyNodeCluster(name, envoy, service))));
    const backups = plan.backups.get(node.id) ?? [];
    assignments.push(nodeAssignments.get(nodeAssignmentKey(name, node, backups), () => resource(ClusterLoadAssignmentSchema, name, envoyNodeLoadAssignment(name, node, backups))));
  }
  nodeClusters.done();
  nodeAssignments.done();
  const routes = routeConfigName(service);
  return {
    resources: {
      cluster: byName(clusters),
      endpoint: byName(assignments),
      listener: [resource(ListenerSchema, listenerName(service), envoyListener(listenerName(service), routes, shardCount, routing.keyHeader, envoy))],
      route: [resource(RouteConfigurationSchema, routes, envoyRouteTableConfiguration(routes, service, plan, envoy.missingHeader, shardCount, routing.keyHeader, envoy.perTryTimeoutMs))],
    },
    warnings: serving.warnings,
  };
}

function translateGrpc({ shardMap, topology }: TranslatorInput, proxy: ProxyClass): Translation {
  const { service, envoy } = topology.xds;
  const serving = servingOwners(shardMap);
  const fallback: string[] = [];
  if (proxy.picker === true) {
    const picker = translateGrpcPicker({ shardMap, topology }, serving);
    if (!('error' in picker)) return picker;
    // Past the picker's 16-bit index (outside the work budget): the stock routes still work.
    fallback.push(`${picker.error}; picker clients get the per-shard routes`);
  }
  const tuples = new Map<string, { owners: readonly Endpoint[]; readers: number }>();
  const shardRoutes: ShardRoute[] = [];
  serving.owners.forEach((owners, shard) => {
    if (owners.length === 0) return; // no route: the catch-all (if any) or UNAVAILABLE
    const readers = serving.readers(shard);
    const name = grpcOwnersClusterName(service, owners.map((e) => e.id), readers);
    tuples.set(name, { owners, readers });
    shardRoutes.push({ shard, cluster: name });
  });

  // missingHeader applies to gRPC too: `any` adds a catch-all route to every serving owner.
  const catchAll = envoy.missingHeader === 'any' ? grpcAnyClusterName(service) : undefined;
  const routes = routeConfigName(service);
  const sized = new Map([...tuples].map(([name, t]) => [name, t.owners]));
  if (catchAll !== undefined) sized.set(catchAll, serving.endpoints);
  const tooLarge = grpcSizeWarnings({ routes: shardRoutes, clusters: sized });
  if (tooLarge.length > 0) {
    // The client could not receive these resources (its stream would end at gRPC's message limit,
    // and it would reconnect for ever), and a class of them held about 40 MB of keyway's heap
    // (S = 16384, 2000 nodes): stock clients in eight fabrics ran keyway out of memory. They get
    // the listener and a route configuration with no route instead: each call fails UNAVAILABLE.
    // What the last translation that fitted kept for reuse goes too, or a class that grew past the
    // limit would go on holding it (for ever, when no stock class fits any more).
    releaseGrpcMemos(proxy, shardMap);
    return {
      resources: {
        cluster: [],
        endpoint: [],
        listener: [resource(ListenerSchema, listenerName(service), grpcListener(listenerName(service), routes))],
        route: [resource(RouteConfigurationSchema, routes, grpcRouteConfiguration(routes, service, [], undefined))],
      },
      warnings: [...serving.warnings, ...fallback, ...tooLarge],
    };
  }
  const clusters: TranslatedResource[] = [];
  const assignments: TranslatedResource[] = [];
  const tupleAssignments = grpcAssignmentsOf(proxy, shardMap);
  for (const [name, { owners, readers }] of tuples) {
    clusters.push(grpcClusters.get(name, () => resource(ClusterSchema, name, grpcCluster(name))));
    assignments.push(tupleAssignments.get(tupleAssignmentKey(name, owners, readers), () => resource(ClusterLoadAssignmentSchema, name, grpcOwnersLoadAssignment(name, owners, proxy, readers))));
  }
  grpcClusters.done();
  tupleAssignments.done();
  if (catchAll !== undefined) {
    clusters.push(resource(ClusterSchema, catchAll, grpcCluster(catchAll)));
    assignments.push(resource(ClusterLoadAssignmentSchema, catchAll, grpcAnyLoadAssignment(catchAll, serving.endpoints)));
  }
  return {
    resources: {
      cluster: byName(clusters),
      endpoint: byName(assignments),
      listener: [resource(ListenerSchema, listenerName(service), grpcListener(listenerName(service), routes))],
      route: [resource(RouteConfigurationSchema, routes, grpcRouteConfiguration(routes, service, shardRoutes, catchAll))],
    },
    warnings: [...serving.warnings, ...fallback],
  };
}

/** One route, one cluster whose policy carries the owner table, its endpoints by EDS (docs/xds.md "The shard picker"). */
function translateGrpcPicker({ shardMap, topology }: TranslatorInput, serving: ServingOwners): Translation | { error: string } {
  const { service, envoy, routing } = topology.xds;
  const made = shardPickerConfig({
    shardCount: shardMap.policy.shardCount,
    replicas: shardMap.policy.replicas,
    owners: serving.owners,
    readers: serving.readers,
    endpoints: serving.endpoints,
    keyHeader: routing.keyHeader,
    missingHeader: envoy.missingHeader,
  });
  if ('error' in made) return made;
  const tooLarge = grpcPickerSizeWarning(made.config);
  const cluster = grpcPickerClusterName();
  const routes = routeConfigName(service);
  return {
    resources: {
      cluster: [resource(ClusterSchema, cluster, grpcPickerCluster(cluster, made.config))],
      endpoint: [resource(ClusterLoadAssignmentSchema, cluster, grpcPickerLoadAssignment(cluster, serving.endpoints))],
      listener: [resource(ListenerSchema, listenerName(service), grpcListener(listenerName(service), routes))],
      route: [resource(RouteConfigurationSchema, routes, grpcPickerRouteConfiguration(routes, service, cluster))],
    },
    warnings: [...serving.warnings, ...(tooLarge !== undefined ? [tooLarge] : [])],
  };
}

function resource<Desc extends DescMessage>(schema: Desc, name: string, message: MessageShape<Desc>): TranslatedResource {
  return { name, schema, message } as TranslatedResource;
}

function byName(list: TranslatedResource[]): TranslatedResource[] {
  return list.sort((a, b) => compareStrings(a.name, b.name));
}

/**
 * The route-table shape's per-node resources, kept from one translation to the next (reuse.ts): a
 * node's cluster depends only on its name and the Envoy settings object, its assignment on the
 * node and its backups; with 2000 nodes a map change alters a few of them.
 */
const nodeClusterMemos = new WeakMap<EnvoySettings, PreviousTranslation<TranslatedResource>>();
const nodeAssignments = new PreviousTranslation<TranslatedResource>();

function nodeClustersOf(envoy: EnvoySettings): PreviousTranslation<TranslatedResource> {
  let memo = nodeClusterMemos.get(envoy);
  if (!memo) {
    memo = new PreviousTranslation();
    nodeClusterMemos.set(envoy, memo);
  }
  return memo;
}

/** Everything envoyNodeLoadAssignment reads, as one string. */
function nodeAssignmentKey(name: string, node: Endpoint, backups: readonly Backup[]): string {
  let key = `${name}\n${endpointKey(node)}`;
  for (const b of backups) key += `\n${endpointKey(b.endpoint)}\0${b.shards}`;
  return key;
}

/**
 * The gRPC flavor's per-tuple resources, kept likewise: a tuple's cluster depends on its name only,
 * its assignment on its owners, readers and the class's place (replicas ordered by nearness), so
 * assignments are kept per class. Classes are bounded by the topology (served-class.ts).
 */
const grpcClusters = new PreviousTranslation<TranslatedResource>();
/** Per place, its memo and the map it last translated. */
const grpcAssignments = new Map<string, { readonly memo: PreviousTranslation<TranslatedResource>; map: ShardMap }>();
/** The map of the latest gRPC translation and the one before. */
let grpcMaps: { current?: ShardMap; previous?: ShardMap } = {};

function grpcAssignmentsOf(proxy: ProxyClass, map: ShardMap): PreviousTranslation<TranslatedResource> {
  if (map !== grpcMaps.current) {
    // Every served class is translated with each new map: a place no translation of the last map
    // asked for has no class any more (its zone left the topology), so its memo is let go.
    grpcMaps = { current: map, ...(grpcMaps.current && { previous: grpcMaps.current }) };
    for (const [key, e] of grpcAssignments) if (e.map !== map && e.map !== grpcMaps.previous) grpcAssignments.delete(key);
  }
  const key = placeKey(proxy.zone, proxy.subzone);
  let entry = grpcAssignments.get(key);
  if (!entry) {
    entry = { memo: new PreviousTranslation(), map };
    grpcAssignments.set(key, entry);
  }
  entry.map = map;
  return entry.memo;
}

/**
 * A translation that builds no tuple resources (past gRPC's limit): the class's place and the shared
 * clusters keep nothing for the next one. The verdict is the map's, not the place's, so no class
 * of this map would have reused them.
 */
function releaseGrpcMemos(proxy: ProxyClass, map: ShardMap): void {
  grpcAssignmentsOf(proxy, map).done();
  grpcClusters.done();
}

/** Everything grpcOwnersLoadAssignment reads of a tuple, as one string (the class is the memo's). */
function tupleAssignmentKey(name: string, owners: readonly Endpoint[], readers: number): string {
  let key = `${name}\n${readers}`;
  for (const e of owners) key += `\n${endpointKey(e)}`;
  return key;
}
