/**
 * What a gRPC client carrying keyway's shard picker gets (docs/xds.md "The shard picker"): one
 * route to one EDS cluster whose load-balancing policy list is the `keyway.shard_picker` policy
 * (gRFC A52, its config in a TypedStruct) with round robin after it for clients without the
 * policy. The owner table lives in the policy config, so an ownership change is one CDS resource
 * (plus EDS when an endpoint comes or goes), whatever the number of shards or owner tuples.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import {
  ClusterSchema,
  Cluster_DiscoveryType,
  RoundRobinSchema,
  RouteConfigurationSchema,
  TypedStructSchema,
  type Cluster,
  type RouteConfiguration,
} from '../proto.js';
import type { Endpoint } from '../../core/endpoint.js';
import { compareStrings } from '../../core/order.js';
import {
  MAX_PICKER_ENDPOINTS,
  SHARD_PICKER_POLICY,
  SHARD_PICKER_TYPE_URL,
  encodeOwners,
  encodeReaders,
  type MissingHeaderMode,
  type ShardPickerConfig,
} from '../../core/shard-picker.js';
import { lbWeight } from '../../core/endpoint.js';
import { adsConfigSource } from './envoy-core.js';
import { clusterCircuitBreakers } from './envoy-failover.js';
import { grpcFailoverRetryPolicy } from './grpc-routes.js';
import { SHARD_HEADER } from './names.js';
import { addressKey } from './serving.js';

/** The stock policy after the picker in the list (gRPC takes the first policy it knows). */
export const ROUND_ROBIN_POLICY = 'envoy.load_balancing_policies.round_robin';

export interface PickerInput {
  readonly shardCount: number;
  /** The sharding policy's R: the table has at least this many ranks per shard. */
  readonly replicas: number;
  /** owners[shard]: serving endpoints, primary first. */
  readonly owners: readonly (readonly Endpoint[])[];
  /** Every serving endpoint. */
  readonly endpoints: readonly Endpoint[];
  /** How many of a shard's owners share its calls (docs/hot-shards.md); 1 for all but hot shards. */
  readonly readers?: (shard: number) => number;
  readonly keyHeader: string;
  readonly missingHeader: MissingHeaderMode;
}

/**
 * The policy config of the shard-picker contract, version 1. Undefined (with the reason) when the
 * endpoints do not fit a 16-bit index, which keyway's work budget already rules out.
 */
export function shardPickerConfig(input: PickerInput): { config: ShardPickerConfig } | { error: string } {
  const endpoints = input.endpoints.map(addressKey).sort(compareStrings);
  if (endpoints.length > MAX_PICKER_ENDPOINTS) {
    return { error: `${endpoints.length} serving endpoints exceed the shard picker's ${MAX_PICKER_ENDPOINTS}` };
  }
  const index = new Map(endpoints.map((a, i) => [a, i]));
  const table = input.owners.map((list) => list.map((e) => index.get(addressKey(e))!));
  // R in force: the policy's R, or more when a shard lists more owners (a draining owner kept on).
  // A loop, not Math.max(...): S arguments overflow the stack from about 10^5 shards.
  let replicas = Math.max(1, input.replicas);
  for (const l of table) replicas = Math.max(replicas, l.length);
  const hot = new Map<number, number>();
  if (input.readers) input.owners.forEach((_, shard) => hot.set(shard, input.readers!(shard)));
  const readers = encodeReaders(hot);
  // Weights travel only with hot shards, so a map without them keeps the config it always had.
  const weightOf = new Map(input.endpoints.map((e) => [addressKey(e), lbWeight(e.weight)]));
  const spread = readers.length > 0 ? { readers, weights: endpoints.map((a) => weightOf.get(a) ?? 1) } : {};
  return {
    config: {
      shardCount: input.shardCount,
      shardHeader: SHARD_HEADER,
      keyHeader: input.keyHeader,
      missingHeader: input.missingHeader,
      endpoints,
      owners: encodeOwners(table, replicas),
      ...spread,
    },
  };
}

/** The picker cluster `name`: EDS over ADS, policies [keyway.shard_picker(config), round_robin]. */
export function grpcPickerCluster(name: string, config: ShardPickerConfig): Cluster {
  const typedStruct = create(TypedStructSchema, {
    typeUrl: SHARD_PICKER_TYPE_URL,
    value: {
      shardCount: config.shardCount,
      shardHeader: config.shardHeader,
      keyHeader: config.keyHeader,
      missingHeader: config.missingHeader,
      endpoints: [...config.endpoints],
      owners: config.owners,
      ...(config.readers ? { readers: [...config.readers] } : {}),
      ...(config.weights ? { weights: [...config.weights] } : {}),
    },
  });
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: adsConfigSource() },
    // gRPC caps a cluster at 1024 calls in flight without it, and the picker puts the whole fleet
    // in this one cluster: past that, calls are dropped (UNAVAILABLE), wait-for-ready ones too.
    circuitBreakers: clusterCircuitBreakers(),
    loadBalancingPolicy: {
      policies: [
        { typedExtensionConfig: { name: SHARD_PICKER_POLICY, typedConfig: anyPack(TypedStructSchema, typedStruct) } },
        { typedExtensionConfig: { name: ROUND_ROBIN_POLICY, typedConfig: anyPack(RoundRobinSchema, create(RoundRobinSchema)) } },
      ],
    },
  });
}

/** Route configuration `name`: one virtual host, any domain, one route (prefix "") to `cluster`. */
export function grpcPickerRouteConfiguration(name: string, service: string, cluster: string): RouteConfiguration {
  return create(RouteConfigurationSchema, {
    name,
    virtualHosts: [
      {
        name: service,
        domains: ['*'],
        routes: [{ match: { pathSpecifier: { case: 'prefix', value: '' } }, action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: cluster } } } }],
        retryPolicy: grpcFailoverRetryPolicy(),
      },
    ],
  });
}
