/**
 * gRPC's message limit for the per-shard resources of proxyless clients (docs/xds.md). grpc-js and
 * grpc-go receive at most 4 MiB per message, and their xDS clients do not raise it: a larger
 * response ends the client's ADS stream ("Received message larger than max", RESOURCE_EXHAUSTED)
 * before any resource in it is read, so the client never gets its routes and retries forever; no
 * NACK reaches keyway. One response carries a whole route configuration, and (SotW, or a delta
 * client's first response) every cluster or every assignment the client watches, so each kind's
 * total counts. The sizes here are lower bounds from string lengths (no encoding on the hot path):
 * past the limit they prove a response too large.
 */
import type { Endpoint } from '../../core/endpoint.js';
import type { ShardPickerConfig } from '../../core/shard-picker.js';
import { ClusterLoadAssignmentSchema, ClusterSchema } from '../proto.js';

/** grpc-js's and grpc-go's default receive limit: 4 MiB. */
export const GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Fewest encoded bytes besides the strings counted (measured; test/xds/translator/grpc-size.test.ts
 * checks they stay below the real encoding): a shard route beside its cluster name and shard
 * digits, a cluster beside its name, an assignment's endpoint beside its address and id.
 */
const ROUTE_BYTES = 32;
// A cluster: 12 bytes besides its name, and 36 of circuit breakers (34 and their field's tag and length).
const CLUSTER_BYTES = 48;
const ENDPOINT_BYTES = 18;
/**
 * What a response adds around each resource: DiscoveryResponse.resources packs it in an Any, whose
 * type URL alone is 51 bytes for a cluster and 67 for an assignment (16384 assignments: 1.2 MB),
 * plus at least 6 bytes of tags and lengths.
 */
const anyBytes = (typeName: string): number => 6 + `type.googleapis.com/${typeName}`.length;
const CLUSTER_ANY_BYTES = anyBytes(ClusterSchema.typeName);
const ENDPOINT_ANY_BYTES = anyBytes(ClusterLoadAssignmentSchema.typeName);

export interface GrpcSizeInput {
  /** Each shard route: its shard and its cluster's name. */
  readonly routes: readonly { readonly shard: number; readonly cluster: string }[];
  /** Each cluster (owner tuple or catch-all) and the endpoints of its assignment. */
  readonly clusters: ReadonlyMap<string, readonly Endpoint[]>;
}

/** Lower bounds of the route configuration, of all clusters and of all assignments, in bytes. */
export function grpcSizeBounds(input: GrpcSizeInput): { route: number; cluster: number; endpoint: number } {
  let route = 0;
  for (const r of input.routes) route += ROUTE_BYTES + r.cluster.length + String(r.shard).length;
  let cluster = 0;
  let endpoint = 0;
  for (const [name, endpoints] of input.clusters) {
    cluster += CLUSTER_ANY_BYTES + CLUSTER_BYTES + name.length;
    endpoint += ENDPOINT_ANY_BYTES + name.length;
    // Each locality is written at least once per assignment (once per endpoint in an owner tuple's).
    // Keys joined by NUL: two localities that collide are counted once, still a lower bound.
    const localities = new Set<string>();
    for (const e of endpoints) {
      endpoint += ENDPOINT_BYTES + e.address.length + e.id.length;
      const key = `${e.locality.region}\0${e.locality.zone}\0${e.locality.subzone}`;
      if (localities.has(key)) continue;
      localities.add(key);
      endpoint += e.locality.region.length + e.locality.zone.length + e.locality.subzone.length;
    }
  }
  return { route, cluster, endpoint };
}

const WHAT = { route: 'route configuration takes', cluster: 'clusters take', endpoint: 'endpoint assignments take' } as const;

/** A warning per kind whose response cannot reach a proxyless gRPC client. */
export function grpcSizeWarnings(input: GrpcSizeInput): string[] {
  const bounds = grpcSizeBounds(input);
  const out: string[] = [];
  for (const kind of ['cluster', 'endpoint', 'route'] as const) {
    if (bounds[kind] <= GRPC_MAX_MESSAGE_BYTES) continue;
    out.push(
      `the gRPC ${WHAT[kind]} at least ${bounds[kind]} bytes in one xDS response, above gRPC's ${GRPC_MAX_MESSAGE_BYTES}-byte message limit: ` +
        'proxyless clients without the shard picker could not receive it (their xDS stream would end with RESOURCE_EXHAUSTED), so they are sent a route configuration with no route and their calls fail UNAVAILABLE; ' +
        'give them the shard picker (docs/xds.md), or lower shards or replicas',
    );
  }
  return out;
}

/**
 * The shard picker's one cluster carries the owner table, S rows as wide as the most owners a
 * shard has: a hot shard read by k owners (hotShards.maxReaders, up to 16) widens every row to k.
 * At S = 131072, one shard read by 16 owners made a 5.6 MB cluster, and the picker clients' xDS
 * stream ended as for the per-shard resources. A lower bound from the table's text and the
 * endpoint addresses: past the limit, a warning.
 */
export function grpcPickerSizeWarning(config: ShardPickerConfig): string | undefined {
  let bytes = CLUSTER_ANY_BYTES + config.owners.length;
  for (const e of config.endpoints) bytes += e.length;
  if (bytes <= GRPC_MAX_MESSAGE_BYTES) return undefined;
  const width = Buffer.byteLength(config.owners, 'base64') / 2 / config.shardCount;
  return (
    `the gRPC shard picker's cluster takes at least ${bytes} bytes in one xDS response, above gRPC's ${GRPC_MAX_MESSAGE_BYTES}-byte message limit: ` +
    `picker clients cannot receive it (their xDS stream ends with RESOURCE_EXHAUSTED); its owner table has ${config.shardCount} shards x ${width} owners ` +
    '(the most owners one shard has: a hot shard\'s readers widen every row); lower shards or hotShards.maxReaders'
  );
}
