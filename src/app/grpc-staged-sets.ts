/**
 * The resource sets of a make-before-break change for stock proxyless gRPC clients (docs/xds.md
 * "Make-before-break for stock gRPC clients"). A gRPC client switches its routes the moment it
 * reads a new route configuration; a route to a cluster it has not fetched yet fails its calls
 * ("unknown cluster" in grpc-go). So a change that creates clusters goes out in three sets:
 *   `add`:    the routes in force, plus one staging route per new cluster (they cannot match:
 *             they come after every real route and need the reserved header {@link STAGING_HEADER}),
 *             and the clusters and endpoints of both the old and the new routes;
 *   `switch`: the new routes, the old clusters still held by staging routes;
 *   `done`:   the translator's set, nothing staged.
 * Envoy (either route shape, docs/xds.md "Route shape") takes the same three sets without staging
 * routes: Envoy fetches every cluster, but a route applied while the cluster it names still warms
 * answers 503 ("cluster not found").
 * Pure: sets in, set out; when to move from one to the next is grpc-stager.ts's.
 */
import { clone, create, toBinary } from '@bufbuild/protobuf';
import { RouteConfigurationSchema, RouteSchema, type Cluster, type Route, type RouteConfiguration } from '../xds/proto.js';
import { edsServiceName, virtualHostClusters } from '../xds/references.js';
import { TYPE_URL, type ResourceKind, type ResourceSet, type TranslatedResource } from '../xds/resources.js';
import { compareStrings } from '../core/order.js';

/** Header of the staging routes: reserved, a call carrying it may reach a staged cluster. */
export const STAGING_HEADER = 'x-keyway-staging';

export type StagePhase = 'add' | 'switch' | 'done';

/** Names of the clusters `set` defines. */
export function clusterNames(set: ResourceSet): Set<string> {
  return new Set(set.cluster.map((r) => r.name));
}

/**
 * The first phase a change from `served` to `target` needs: `add` when its routes send calls to a
 * cluster `served` lacks, `switch` when it only drops clusters. A cluster the new routes do not
 * name (in Envoy's route table with `missingHeader: reject`, the cluster of a node routed no shard
 * yet) goes out with them: Envoy warms it and no call needs it. Staged, its `add` set was the
 * target itself and the `done` step after it changed nothing, so no proxy ACKed again and the
 * ACKs held back as mid-change (xds-stage.ts) left the change unconverged until it timed out.
 */
export function firstPhase(served: ResourceSet, target: ResourceSet): StagePhase {
  const before = clusterNames(served);
  if (routedClusters(target).some((n) => !before.has(n))) return 'add';
  const after = clusterNames(target);
  return [...before].some((n) => !after.has(n)) ? 'switch' : 'done';
}

/** The phase after `phase` for this change (`switch` is skipped when no cluster leaves). */
export function nextPhase(phase: StagePhase, base: ResourceSet, target: ResourceSet): StagePhase {
  if (phase !== 'add') return 'done';
  const after = clusterNames(target);
  return [...clusterNames(base)].some((n) => !after.has(n)) ? 'switch' : 'done';
}

/**
 * The set served during `phase` of the change from `base` (what was served when the change began,
 * possibly a staged set itself) to `target`. Endpoints of a cluster both define are the target's:
 * they are current; a cluster only `base` defines keeps its endpoints until it leaves. Staging
 * routes only for gRPC clients (`stagingRoutes`): Envoy fetches every cluster it is sent, and to it
 * a staging route would only be a route to a leaving cluster for a request carrying the header.
 */
export function stagedSet(base: ResourceSet, target: ResourceSet, phase: StagePhase, stagingRoutes = true): ResourceSet {
  if (phase === 'done') return target;
  const routesFrom = phase === 'add' ? base : target;
  const cluster = union(base.cluster, target.cluster);
  const endpoint = union(base.endpoint, target.endpoint);
  const route = stagingRoutes ? routesFrom.route.map((r) => withStagingRoutes(r, cluster.map((c) => c.name))) : routesFrom.route;
  return { cluster, endpoint, listener: routesFrom.listener, route };
}

/**
 * What a change that arrives during another starts from: the staged set in force, `served`, less
 * the clusters (and their endpoints) no client may still route to, those outside `mayRoute`. The
 * caller keeps `mayRoute`: the clusters of the real routes of every set served since the class was
 * last in sync, since a client may lag by several of them (a change that only drops clusters
 * switches the routes without waiting). A cluster only staged, or left from older steps, carries
 * no call. Without this, changes arriving faster than a change completes (a client that never ACKs
 * holds each phase to its bound) would add every cluster of every change to the set for as long as
 * they keep coming.
 */
export function routableBase(served: ResourceSet, mayRoute: ReadonlySet<string>): ResourceSet {
  const cluster = served.cluster.filter((c) => mayRoute.has(c.name));
  if (cluster.length === served.cluster.length) return served;
  const eds = new Set(cluster.flatMap((c) => edsServiceName(c.message as Cluster) ?? []));
  return { ...served, cluster, endpoint: served.endpoint.filter((e) => eds.has(e.name)) };
}

/** The clusters the real routes of `set` (not its staging routes) send calls to, a route table's included. */
export function routedClusters(set: ResourceSet): string[] {
  return set.route.flatMap((r) => {
    const config = r.message as RouteConfiguration;
    return config.virtualHosts.flatMap((vh) => virtualHostClusters({ ...vh, routes: vh.routes.filter((route) => !isStagingRoute(route)) }));
  });
}

/**
 * Bytes a state-of-the-world response adds besides its resources (version, type URL, nonce, the
 * control plane's id): a generous bound, so a set judged to fit does fit.
 */
const RESPONSE_HEADER_BYTES = 1024;
/** Kinds whose whole set a stock gRPC client holds, and so receives in one SotW response. */
const RESPONSE_KINDS = ['cluster', 'endpoint', 'listener', 'route'] as const;

/**
 * The largest SotW response a stock gRPC client is sent for the set `stagedSet(base, target,
 * phase)` serves: its kind and an upper bound of its bytes (each kind's resources, each packed in
 * an Any, plus RESPONSE_HEADER_BYTES). Computed from the sources of that set, so that a staged route
 * configuration (a fresh copy on every build) is not encoded: the routes it is copied from, plus
 * the staging routes it gains. Sizes are kept per message object: messages are immutable once
 * handed over, and the translator hands back unchanged ones, so a change encodes only what it made.
 */
export function largestStagedResponse(base: ResourceSet, target: ResourceSet, phase: StagePhase): { kind: ResourceKind; bytes: number } {
  const staged = phase !== 'done';
  const routesFrom = phase === 'add' ? base : target;
  // The set's clusters (and endpoints): the target's, and in a staged set the base's it lacks.
  const clusters = staged ? new Set([...clusterNames(base), ...clusterNames(target)]) : clusterNames(target);
  let largest: { kind: ResourceKind; bytes: number } = { kind: 'cluster', bytes: 0 };
  for (const kind of RESPONSE_KINDS) {
    let bytes = RESPONSE_HEADER_BYTES;
    const add = (r: TranslatedResource): void => {
      bytes += fieldBytes(anyBytes(kind, messageBytes(r) + (kind === 'route' && staged ? stagingRoutesBytes(r, clusters) : 0)));
    };
    if (kind === 'route' || kind === 'listener') routesFrom[kind].forEach(add);
    else {
      target[kind].forEach(add);
      if (staged) {
        const inTarget = new Set(target[kind].map((r) => r.name));
        for (const r of base[kind]) if (!inTarget.has(r.name)) add(r);
      }
    }
    if (bytes > largest.bytes) largest = { kind, bytes };
  }
  return largest;
}

/** Encoded size of each message object seen. */
const sizes = new WeakMap<object, number>();

function messageBytes(r: TranslatedResource): number {
  let n = sizes.get(r.message);
  if (n === undefined) sizes.set(r.message, (n = toBinary(r.schema, r.message).length));
  return n;
}

/**
 * At most how many bytes withStagingRoutes adds to route configuration `resource` for `clusters`:
 * a staging route per cluster its real routes do not name (those it already stages count again:
 * an upper bound), and the growth of the virtual host's and the list's length prefixes.
 */
function stagingRoutesBytes(resource: TranslatedResource, clusters: ReadonlySet<string>): number {
  const config = resource.message as RouteConfiguration;
  if (!config.virtualHosts[0] || config.virtualHosts[0].matcher) return 0;
  let used = routedBy.get(config);
  if (!used) routedBy.set(config, (used = new Set(config.virtualHosts.flatMap((v) => v.routes.filter((r) => !isStagingRoute(r)).map(routeCluster)))));
  let bytes = 0;
  for (const name of clusters) if (!used.has(name)) bytes += fieldBytes(stagingRouteBytes(name.length));
  return bytes === 0 ? 0 : bytes + 2 * 5;
}

/** The clusters each route configuration's real routes name. */
const routedBy = new WeakMap<object, ReadonlySet<string | undefined>>();

/** Encoded size of a staging route, by its cluster name's length (the only part that varies). */
const stagingSizes = new Map<number, number>();

function stagingRouteBytes(nameLength: number): number {
  let n = stagingSizes.get(nameLength);
  if (n === undefined) stagingSizes.set(nameLength, (n = toBinary(RouteSchema, stagingRoute('x'.repeat(nameLength))).length));
  return n;
}

/** An Any of `kind` holding `value` bytes. */
function anyBytes(kind: ResourceKind, value: number): number {
  return fieldBytes(TYPE_URL[kind].length) + (value > 0 ? fieldBytes(value) : 0);
}

/** A length-delimited field of `length` bytes with its tag (field numbers below 16: one byte). */
function fieldBytes(length: number): number {
  let prefix = 1;
  for (let n = length; n >= 0x80; n >>>= 7) prefix++;
  return 1 + prefix + length;
}

/** Both lists by name, `preferred`'s resource where both have one; sorted by name. */
function union(other: readonly TranslatedResource[], preferred: readonly TranslatedResource[]): TranslatedResource[] {
  const byName = new Map(other.map((r) => [r.name, r] as const));
  for (const r of preferred) byName.set(r.name, r);
  return [...byName.values()].sort((a, b) => compareStrings(a.name, b.name));
}

/**
 * Route configuration `resource` without its staging routes, then with one staging route at the end
 * of its first virtual host for every name of `clusters` its real routes do not reference: the
 * client then fetches those clusters and their endpoints without routing any call to them.
 */
function withStagingRoutes(resource: TranslatedResource, clusters: readonly string[]): TranslatedResource {
  const config = clone(RouteConfigurationSchema, resource.message as RouteConfiguration);
  const host = config.virtualHosts[0];
  // A matcher (Envoy's route-table shape) excludes plain routes, and Envoy fetches every cluster
  // without being pointed at it: nothing to add.
  if (!host || host.matcher) return resource;
  host.routes = host.routes.filter((r) => !isStagingRoute(r));
  const used = new Set(config.virtualHosts.flatMap((v) => v.routes.map(routeCluster)));
  for (const name of clusters) if (!used.has(name)) host.routes.push(stagingRoute(name));
  return { name: resource.name, schema: RouteConfigurationSchema, message: config } as TranslatedResource;
}

function stagingRoute(cluster: string): Route {
  return create(RouteSchema, {
    match: {
      pathSpecifier: { case: 'prefix', value: '/' },
      headers: [{ name: STAGING_HEADER, headerMatchSpecifier: { case: 'stringMatch', value: { matchPattern: { case: 'exact', value: cluster } } } }],
    },
    action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: cluster } } },
  });
}

function isStagingRoute(r: Route): boolean {
  return r.match?.headers.some((h) => h.name === STAGING_HEADER) ?? false;
}

function routeCluster(r: Route): string | undefined {
  return r.action.case === 'route' && r.action.value.clusterSpecifier.case === 'cluster' ? r.action.value.clusterSpecifier.value : undefined;
}
