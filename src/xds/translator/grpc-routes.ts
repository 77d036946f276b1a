/**
 * The proxyless gRPC flavor's route configuration (RDS). gRPC has no subset load balancing, so
 * each shard gets a route matching `x-cache-shard` exactly and pointing at the cluster of its
 * owners. Routes are tried in order; gRPC supports exact header matching (A28).
 */
import { create } from '@bufbuild/protobuf';
import { RetryPolicySchema, RouteActionSchema, RouteConfigurationSchema, RouteMatchSchema, RouteSchema, type RetryPolicy, type Route, type RouteAction, type RouteConfiguration, type RouteMatch } from '../proto.js';
import { SHARD_HEADER } from './names.js';
import { PreviousByShard } from './reuse.js';

/**
 * The gRPC flavor's failover retry (gRFC A44: `retry_on` names status codes). A call in flight on a
 * node that dies fails with UNAVAILABLE (its connection dropped) or CANCELLED (the server reset its
 * streams as it shut down); the retry picks again, and by then the priority policy (or keyway's
 * shard picker) has left the dead node for the replicas. Two retries with gRPC's default backoff
 * (25 ms, at most 250 ms), as the Envoy flavor's retry (envoy-failover.ts). Only these two codes:
 * a call answered with any other status is not sent again. A server that answers UNAVAILABLE
 * itself gets the call up to twice more (Istio's default retry covers the same codes); one that
 * sheds load answers RESOURCE_EXHAUSTED, which is not retried (docs/xds.md "The failover retry").
 */
export function grpcFailoverRetryPolicy(): RetryPolicy {
  return create(RetryPolicySchema, { retryOn: 'cancelled,unavailable', numRetries: 2 });
}

/** One shard's route target. */
export interface ShardRoute {
  readonly shard: number;
  readonly cluster: string;
}

/**
 * Route configuration `name` with one virtual host (named after the service, any domain), one route per owned shard in
 * shard order, and, when `catchAllCluster` is given (missingHeader=any), a last route without a
 * header match. Without it a request whose header matches no route fails with UNAVAILABLE.
 */
export function grpcRouteConfiguration(
  name: string,
  service: string,
  shardRoutes: readonly ShardRoute[],
  catchAllCluster: string | undefined,
): RouteConfiguration {
  // One action per owner tuple's cluster, shared by its shards' routes; a shard whose cluster is
  // the one of the last translation keeps its route object (reuse.ts), for the cache to skip.
  const actions = new Map<string, RouteAction>();
  const routes: Route[] = shardRoutes.map(({ shard, cluster }) =>
    lastRoutes.get(shard, cluster, () => {
      let action = actions.get(cluster);
      if (!action) {
        action = create(RouteActionSchema, { clusterSpecifier: { case: 'cluster', value: cluster } });
        actions.set(cluster, action);
      }
      return create(RouteSchema, { match: shardMatch(shard), action: { case: 'route', value: action } });
    }),
  );
  lastRoutes.done();
  // Every stock gRPC class (zone, fabric) of one map gets the same routes: the same message, so
  // the snapshot cache encodes it once, not once per class at every change.
  const last = lastConfiguration;
  if (last && last.name === name && last.service === service && last.catchAllCluster === catchAllCluster && sameElements(last.shardRoutes, routes)) return last.message;
  const shardRoutesOnly = [...routes];
  if (catchAllCluster !== undefined) {
    routes.push(
      create(RouteSchema, {
        match: { pathSpecifier: { case: 'prefix', value: '/' } },
        action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: catchAllCluster } } },
      }),
    );
  }
  // Any domain: the route configuration is per service already, and a client may override the
  // authority it matches with (grpc.default_authority), which would miss a domain list of [service].
  const message = create(RouteConfigurationSchema, { name, virtualHosts: [{ name: service, domains: ['*'], routes, retryPolicy: grpcFailoverRetryPolicy() }] });
  lastConfiguration = { name, service, catchAllCluster, shardRoutes: shardRoutesOnly, message };
  return message;
}

/** The last route configuration made, with what it was made of (messages are never changed once made). */
let lastConfiguration:
  | { readonly name: string; readonly service: string; readonly catchAllCluster: string | undefined; readonly shardRoutes: readonly Route[]; readonly message: RouteConfiguration }
  | undefined;

/** Same length, and the very same object at each index. */
function sameElements<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Each shard's route of the last translation, by its cluster. */
const lastRoutes = new PreviousByShard<string, Route>();

/**
 * The match of shard `shard`'s route: the same in every class and translation, so made once and
 * shared (messages are never changed once made). The live snapshots hold them anyway; sharing
 * saves one set per class of clients.
 */
const matches: RouteMatch[] = [];

function shardMatch(shard: number): RouteMatch {
  return (matches[shard] ??= create(RouteMatchSchema, {
    pathSpecifier: { case: 'prefix', value: '/' },
    headers: [{ name: SHARD_HEADER, headerMatchSpecifier: { case: 'stringMatch', value: { matchPattern: { case: 'exact', value: String(shard) } } } }],
  }));
}
