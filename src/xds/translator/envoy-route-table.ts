/**
 * The Envoy flavor's route-table shape (`envoy.routeShape: table`, docs/xds.md "Route shape"):
 * instead of one cluster whose subset load balancer selects a shard's hosts by metadata, the route
 * table maps `x-cache-shard` to the cluster of the shard's primary.
 * - One EDS cluster per node that can serve (a draining node keeps its own after its routes moved
 *   off it: the translator's caller lists them): the node at priority 0, with its health check, outlier
 *   detection and connection pool; at priority 1 the nodes that back up the shards routed to it
 *   (their other owners), weighted by how many, not health-checked there (each node is checked
 *   once per proxy, in its own cluster). The virtual host's retry
 *   (previous_priorities) moves a request the primary could not take to priority 1, so failover
 *   stays inside one cluster: no aggregate cluster, no cluster per owner list, and each node has
 *   one connection pool per proxy (docs/envoy-findings.md 11).
 * - A hot shard read by k owners gets `weighted_clusters` over the k readers' clusters, weighted
 *   like the readers.
 * - The route table: a matcher on `x-cache-shard` with one entry per shard; the virtual host keeps
 *   the Lua filter out of the request's chain, so a request that names its shard skips it. Every
 *   other request takes `on_no_match`, whose route runs the Lua script by name: it answers a
 *   malformed header with 400, or sets the header from the key, which makes Envoy match the table
 *   again; a request with neither header takes the missingHeader route. Disabling the filter once
 *   for the virtual host rather than on each shard's route keeps 45 % of the table's bytes out of
 *   every update (docs/envoy-findings.md 11).
 * Compared with the subset shape it costs Envoy about 6 points less CPU per request and stalls about
 * 10 ms instead of 137 to 305 ms (p99) on a node joining, leaving or changing weight at S = 16384;
 * every ownership change then resends the whole route table, and a failed primary's requests go to
 * the nodes that back up its shards by weight rather than to each shard's own replica
 * (docs/benchmarks.md "A route table instead of the subset load balancer").
 */
import { create } from '@bufbuild/protobuf';
import { anyPack, type Any } from '@bufbuild/protobuf/wkt';
import {
  ClusterLoadAssignmentSchema,
  HttpRequestHeaderMatchInputSchema,
  LbEndpointSchema,
  Matcher_OnMatchSchema,
  RouteConfigurationSchema,
  RouteSchema,
  type ClusterLoadAssignment,
  type LbEndpoint,
  type Matcher_OnMatch,
  type Route,
  type RouteConfiguration,
} from '../proto.js';
import type { Endpoint } from '../../core/endpoint.js';
import { compareStrings } from '../../core/order.js';
import type { MissingHeaderPolicy } from '../../core/settings.js';
import { lbWeight } from '../../core/endpoint.js';
import { UINT32_MAX, socketAddress } from './envoy-core.js';
import { localityGroups } from './envoy-endpoints.js';
import { failoverPolicies } from './envoy-failover.js';
import { filterDisabled, keyShardLuaRouteConfig } from './envoy-key-shard.js';
import { missingShardMessage } from './envoy-routes.js';
import { HEADER_TO_METADATA_FILTER, LUA_FILTER, SHARD_HEADER, envoyNodeClusterName } from './names.js';
import { PreviousByShard, PreviousTranslation } from './reuse.js';

/** One weighted target of a shard's route: a node's cluster. */
export interface ShardTarget {
  readonly cluster: string;
  readonly weight: number;
}

/** A node that backs up another's shards, and how many of them (its weight at priority 1). */
export interface Backup {
  readonly endpoint: Endpoint;
  readonly shards: number;
}

export interface RouteTablePlan {
  /** Every node that serves a shard, sorted by id: the targets of a request without a shard. */
  readonly nodes: readonly Endpoint[];
  /** Per shard: its targets (its primary, or one per reader of a hot shard); empty when nobody serves it. */
  readonly shards: readonly (readonly ShardTarget[])[];
  /** Per node id: the other owners of the shards routed to it, sorted by id (its cluster's priority 1). */
  readonly backups: ReadonlyMap<string, readonly Backup[]>;
}

/**
 * Which node clusters each shard's route names (docs/xds.md "Route shape"): `owners[shard]` lists
 * the shard's serving owners, primary first; `readers(shard)` how many of them share its requests.
 * A node's backups are the other owners of the shards it takes, counted per shard: where its
 * requests would go if keyway moved those shards on, so the fallback set stays bounded by the
 * owner slots (not every node: N x N entries at 5000 nodes).
 */
export function planRouteTable(service: string, owners: readonly (readonly Endpoint[])[], readers: (shard: number) => number, nodes: readonly Endpoint[]): RouteTablePlan {
  const backups = new Map<string, Map<string, Backup>>();
  const shards = owners.map((list, shard): ShardTarget[] => {
    if (list.length === 0) return [];
    const k = Math.min(Math.max(1, readers(shard)), list.length);
    const taking = list.slice(0, k);
    for (const reader of taking) {
      const mine = backups.get(reader.id) ?? new Map<string, Backup>();
      backups.set(reader.id, mine);
      for (const other of list) {
        if (other.id !== reader.id) mine.set(other.id, { endpoint: other, shards: (mine.get(other.id)?.shards ?? 0) + 1 });
      }
    }
    return taking.map((reader) => ({ cluster: envoyNodeClusterName(service, reader.id), weight: k === 1 ? 1 : lbWeight(reader.weight) }));
  });
  const sorted = new Map([...backups].map(([id, m]) => [id, [...m.values()].sort((a, b) => compareStrings(a.endpoint.id, b.endpoint.id))]));
  return { nodes: [...nodes].sort((a, b) => compareStrings(a.id, b.id)), shards, backups: sorted };
}

/**
 * The node cluster's ClusterLoadAssignment (EDS): `node` at priority 0, its `backups` (sorted by
 * id) at priority 1, weighted by how many of its shards each backs up, their active health check
 * off (each is checked in its own cluster), by locality. The translator keeps it from one
 * translation to the next by the fields it reads (index.ts `nodeAssignmentKey`): a new one read
 * here must be added there.
 */
export function envoyNodeLoadAssignment(clusterName: string, node: Endpoint, backups: readonly Backup[]): ClusterLoadAssignment {
  const entries = [{ endpoint: node, priority: 0, weight: lbWeight(node.weight) }, ...backups.map((b) => ({ endpoint: b.endpoint, priority: 1, weight: b.shards }))];
  const lb = (e: (typeof entries)[number]): LbEndpoint =>
    create(LbEndpointSchema, {
      hostIdentifier: {
        case: 'endpoint',
        value: {
          address: socketAddress(e.endpoint.address, e.endpoint.port),
          hostname: e.endpoint.id,
          // Checked in its own cluster: one check per node per proxy.
          ...(e.priority === 0 ? {} : { healthCheckConfig: { disableActiveHealthCheck: true } }),
        },
      },
      loadBalancingWeight: e.weight,
    });
  return create(ClusterLoadAssignmentSchema, { clusterName, endpoints: localityGroups(entries, (e) => e.priority, (e) => e.endpoint.locality, lb) });
}

/**
 * Route configuration `name` for the route-table shape: one virtual host whose matcher maps each
 * served shard to its readers' node clusters (the Lua filter disabled: the request names its shard), a
 * shard nobody serves to 503, and everything else to the missingHeader route, where the Lua
 * filter runs (see the file comment). The virtual host retries a failed connection on the next
 * priority (the node's backups), and sends there too a request whose answer has not started within
 * `perTryTimeoutMs` (0: never). The virtual host is made anew each time (only the table's routes and
 * entries are kept, which do not carry it), so a reload that changes only this reaches Envoy.
 */
export function envoyRouteTableConfiguration(
  name: string,
  service: string,
  plan: RouteTablePlan,
  missingHeader: MissingHeaderPolicy,
  shardCount: number,
  keyHeader: string,
  perTryTimeoutMs: number,
): RouteConfiguration {
  const map: Record<string, OnMatchAction> = {};
  // Shards with the same targets share one packed Route: a table has one entry per shard but only
  // as many distinct routes as owner choices, and packing is what a large S pays for. Routes and
  // entries are kept from the previous translation (reuse.ts), so a map change makes only the
  // entries of the shards it moved.
  plan.shards.forEach((targets, shard) => {
    if (targets.length === 0) {
      map[String(shard)] = action(`shard-${shard}`, anyPack(RouteSchema, directRoute(503, `no serving owner for shard ${shard}\n`)));
      return;
    }
    const key = targets.map((t) => `${t.cluster}\0${t.weight}`).join('\n');
    const route = packedRoutes.get(key, () => anyPack(RouteSchema, targetsRoute(targets)));
    map[String(shard)] = tableEntries.get(shard, route, () => action(`shard-${shard}`, route));
  });
  packedRoutes.done();
  tableEntries.done();
  const everyNode = anyNode(service, plan.nodes);
  const withLua = { [LUA_FILTER]: keyShardLuaRouteConfig() };
  const noShard =
    missingHeader === 'reject'
      ? directRoute(400, missingShardMessage(shardCount, keyHeader), withLua)
      : everyNode.length > 0
        ? targetsRoute(everyNode, withLua)
        : directRoute(503, 'no serving cache node\n', withLua);
  return create(RouteConfigurationSchema, {
    name,
    virtualHosts: [
      {
        name,
        domains: ['*'],
        ...failoverPolicies(perTryTimeoutMs),
        // The listener is the subset shape's too (envoy-listener.ts): its default Lua script and
        // header_to_metadata are off here (the no-match route turns the named script on).
        typedPerFilterConfig: { [LUA_FILTER]: filterDisabled(), [HEADER_TO_METADATA_FILTER]: filterDisabled() },
        matcher: {
          matcherType: {
            case: 'matcherTree',
            value: {
              input: { name: 'shard', typedConfig: anyPack(HttpRequestHeaderMatchInputSchema, create(HttpRequestHeaderMatchInputSchema, { headerName: SHARD_HEADER })) },
              treeType: { case: 'exactMatchMap', value: { map } },
            },
          },
          onNoMatch: action('no-shard', anyPack(RouteSchema, noShard)),
        },
      },
    ],
  });
}

type OnMatchAction = Matcher_OnMatch;

/** A matcher action: the packed Route message (its `match` is required by the schema but not used). */
function action(name: string, route: Any): OnMatchAction {
  return create(Matcher_OnMatchSchema, { onMatch: { case: 'action', value: { name, typedConfig: route } } });
}

/** A shard route's packed Route by its targets. */
const packedRoutes = new PreviousTranslation<Any>();

/** Each shard's table entry of the last translation: the same packed route gives the same entry. */
const tableEntries = new PreviousByShard<Any, OnMatchAction>();

const ANY_PATH = { pathSpecifier: { case: 'prefix' as const, value: '/' } };

function directRoute(status: number, body: string, typedPerFilterConfig: Record<string, Any> = {}): Route {
  return create(RouteSchema, { match: ANY_PATH, action: { case: 'directResponse', value: { status, body: { specifier: { case: 'inlineString', value: body } } } }, typedPerFilterConfig });
}

/** A route to one node cluster, or weighted over several (a hot shard's readers, every node). */
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
