/**
 * The Envoy flavor's route-table shape (`envoy.routeShape: table`, docs/xds.md "Route shape"):
 * instead of one cluster whose subset load balancer selects a shard's hosts by metadata, the route
 * table maps `x-cache-shard` to a cluster per owner list.
 * - One EDS cluster per serving node: its health check, outlier detection and connection pool.
 * - One aggregate cluster per owner list in use, naming the node clusters in owner order: Envoy
 *   joins their priority sets in that order, so a shard's requests reach its primary while it is
 *   healthy and its replicas after it, and the virtual host's retry (previous_priorities) moves a
 *   failed request to the next owner (docs/envoy-findings.md 11).
 * - A hot shard read by k owners gets `weighted_clusters` over k owner lists, each starting with
 *   one of the readers (then the other readers, then the backups), weighted like the readers.
 * - The route table: a matcher on `x-cache-shard` with one entry per shard, the Lua filter kept out
 *   of those requests' chain; every other request takes `on_no_match`, where the Lua filter runs:
 *   it answers a malformed header with 400, or sets the header from the key, which makes Envoy
 *   match the table again; a request with neither header takes the missingHeader route.
 * Compared with the subset shape it costs Envoy 4.5 points less CPU per request and stalls about
 * 10 ms instead of 137 to 266 ms (p99) on a node joining, leaving or changing weight at S = 16384;
 * every ownership change then resends the whole route table (docs/benchmarks.md "A route table
 * instead of the subset load balancer").
 */
import { create } from '@bufbuild/protobuf';
import { anyPack, type Any } from '@bufbuild/protobuf/wkt';
import {
  AggregateClusterConfigSchema,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  Cluster_LbPolicy,
  FilterConfigSchema,
  HttpRequestHeaderMatchInputSchema,
  RouteConfigurationSchema,
  RouteSchema,
  type Cluster,
  type ClusterLoadAssignment,
  type Route,
  type RouteConfiguration,
} from '../proto.js';
import type { Endpoint } from '../../core/endpoint.js';
import { compareStrings } from '../../core/order.js';
import type { MissingHeaderPolicy } from '../../core/settings.js';
import { UINT32_MAX, duration, lbWeight, localityMessage, socketAddress } from './envoy-core.js';
import { CONNECT_TIMEOUT_MS } from './envoy-cluster.js';
import { failoverRetryPolicy } from './envoy-failover.js';
import { missingShardMessage } from './envoy-routes.js';
import { AGGREGATE_CLUSTER, LUA_FILTER, SHARD_HEADER, envoyNodeClusterName, envoyOwnersClusterName } from './names.js';

/** One weighted target of a shard's route: an owner-list cluster. */
export interface ShardTarget {
  readonly cluster: string;
  readonly weight: number;
}

export interface RouteTablePlan {
  /** Every serving node, by id: each gets a cluster. */
  readonly nodes: readonly Endpoint[];
  /** Owner-list cluster name to its node ids in order, sorted by name. */
  readonly ownerLists: ReadonlyMap<string, readonly string[]>;
  /** Per shard: its targets (one, or one per reader of a hot shard); empty when nobody serves it. */
  readonly shards: readonly (readonly ShardTarget[])[];
}

/**
 * Which owner lists the route table needs (docs/xds.md "Route shape"): `owners[shard]` lists the
 * shard's serving owners, primary first; `readers(shard)` how many of them share its requests.
 */
export function planRouteTable(service: string, owners: readonly (readonly Endpoint[])[], readers: (shard: number) => number, nodes: readonly Endpoint[]): RouteTablePlan {
  const lists = new Map<string, readonly string[]>();
  const listOf = (order: readonly Endpoint[]): string => {
    const ids = order.map((e) => e.id);
    const name = envoyOwnersClusterName(service, ids);
    lists.set(name, ids);
    return name;
  };
  const shards = owners.map((list, shard): ShardTarget[] => {
    if (list.length === 0) return [];
    const k = Math.min(Math.max(1, readers(shard)), list.length);
    if (k === 1) return [{ cluster: listOf(list), weight: 1 }];
    const readersOf = list.slice(0, k);
    return readersOf.map((reader) => ({
      cluster: listOf([reader, ...readersOf.filter((r) => r !== reader), ...list.slice(k)]),
      weight: lbWeight(reader.weight),
    }));
  });
  const sortedLists = new Map([...lists].sort(([a], [b]) => compareStrings(a, b)));
  return { nodes: [...nodes].sort((a, b) => compareStrings(a.id, b.id)), ownerLists: sortedLists, shards };
}

/** The aggregate cluster `name` over the node clusters of `ids`, in order (xDS CDS). */
export function envoyOwnersCluster(service: string, name: string, ids: readonly string[]): Cluster {
  const config = create(AggregateClusterConfigSchema, { clusters: ids.map((id) => envoyNodeClusterName(service, id)) });
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'clusterType', value: { name: AGGREGATE_CLUSTER, typedConfig: anyPack(AggregateClusterConfigSchema, config) } },
    connectTimeout: duration(CONNECT_TIMEOUT_MS),
    lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED,
  });
}

/** The node cluster's ClusterLoadAssignment (EDS): the node alone, at priority 0. */
export function envoyNodeLoadAssignment(clusterName: string, node: Endpoint): ClusterLoadAssignment {
  return create(ClusterLoadAssignmentSchema, {
    clusterName,
    endpoints: [
      {
        locality: localityMessage(node.locality),
        lbEndpoints: [
          {
            hostIdentifier: { case: 'endpoint', value: { address: socketAddress(node.address, node.port), hostname: node.id } },
            loadBalancingWeight: lbWeight(node.weight),
          },
        ],
      },
    ],
  });
}

/**
 * Route configuration `name` for the route-table shape: one virtual host whose matcher maps each
 * served shard to its owner lists (the Lua filter disabled: the request names its shard), a
 * shard nobody serves to 503, and everything else to the missingHeader route, where the Lua
 * filter runs (see the file comment). The virtual host retries a failed connection on the next
 * owner.
 */
export function envoyRouteTableConfiguration(
  name: string,
  service: string,
  plan: RouteTablePlan,
  missingHeader: MissingHeaderPolicy,
  shardCount: number,
  keyHeader: string,
): RouteConfiguration {
  const withoutLua = { [LUA_FILTER]: anyPack(FilterConfigSchema, create(FilterConfigSchema, { disabled: true })) };
  const map: Record<string, OnMatchAction> = {};
  plan.shards.forEach((targets, shard) => {
    const route = targets.length === 0 ? directRoute(503, `no serving owner for shard ${shard}\n`, withoutLua) : targetsRoute(targets, withoutLua);
    map[String(shard)] = action(`shard-${shard}`, route);
  });
  const everyNode = anyNode(service, plan.nodes);
  const noShard =
    missingHeader === 'reject'
      ? directRoute(400, missingShardMessage(shardCount, keyHeader))
      : everyNode.length > 0
        ? targetsRoute(everyNode)
        : directRoute(503, 'no serving cache node\n');
  return create(RouteConfigurationSchema, {
    name,
    virtualHosts: [
      {
        name,
        domains: ['*'],
        retryPolicy: failoverRetryPolicy(),
        matcher: {
          matcherType: {
            case: 'matcherTree',
            value: {
              input: { name: 'shard', typedConfig: anyPack(HttpRequestHeaderMatchInputSchema, create(HttpRequestHeaderMatchInputSchema, { headerName: SHARD_HEADER })) },
              treeType: { case: 'exactMatchMap', value: { map } },
            },
          },
          onNoMatch: action('no-shard', noShard),
        },
      },
    ],
  });
}

interface OnMatchAction {
  readonly onMatch: { readonly case: 'action'; readonly value: { readonly name: string; readonly typedConfig: Any } };
}

/** A matcher action: the Route message (its `match` is required by the schema but not used). */
function action(name: string, route: Route): OnMatchAction {
  return { onMatch: { case: 'action', value: { name, typedConfig: anyPack(RouteSchema, route) } } };
}

const ANY_PATH = { pathSpecifier: { case: 'prefix' as const, value: '/' } };

function directRoute(status: number, body: string, typedPerFilterConfig: Record<string, Any> = {}): Route {
  return create(RouteSchema, { match: ANY_PATH, action: { case: 'directResponse', value: { status, body: { specifier: { case: 'inlineString', value: body } } } }, typedPerFilterConfig });
}

/** A route to one owner list, or weighted over several (a hot shard's readers, every node). */
function targetsRoute(targets: readonly ShardTarget[], typedPerFilterConfig: Record<string, Any> = {}): Route {
  const total = targets.reduce((a, t) => a + t.weight, 0);
  const scale = total > UINT32_MAX ? UINT32_MAX / total : 1;
  const clusterSpecifier =
    targets.length === 1
      ? { case: 'cluster' as const, value: targets[0]!.cluster }
      : { case: 'weightedClusters' as const, value: { clusters: targets.map((t) => ({ name: t.cluster, weight: Math.max(1, Math.floor(t.weight * scale)) })) } };
  return create(RouteSchema, { match: ANY_PATH, action: { case: 'route', value: { clusterSpecifier } }, typedPerFilterConfig });
}

/** missingHeader `any`: every serving node, by its weight. */
function anyNode(service: string, nodes: readonly Endpoint[]): ShardTarget[] {
  return nodes.map((n) => ({ cluster: envoyNodeClusterName(service, n.id), weight: lbWeight(n.weight) }));
}
