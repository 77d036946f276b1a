/**
 * The HTTP connection manager both flavors use: routes fetched by RDS over ADS, then a filter
 * chain that ends with the router (grpc-js-xds rejects a chain whose last filter is not the router).
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import {
  HeaderToMetadataSchema,
  HeaderToMetadata_ValueType,
  HttpConnectionManagerSchema,
  HttpFilterSchema,
  RouterSchema,
  type HttpConnectionManager,
  type HttpFilter,
} from '../proto.js';
import { adsConfigSource } from './envoy-core.js';
import { keyShardLuaFilter } from './envoy-key-shard.js';
import {
  HEADER_TO_METADATA_FILTER,
  LB_METADATA_NAMESPACE,
  ROUTER_FILTER,
  SHARD_HEADER,
  SHARD_METADATA_KEY,
} from './names.js';

/** An HTTP connection manager whose routes are the route configuration `routeConfigName` (RDS). */
export function httpConnectionManager(statPrefix: string, routeConfigName: string, filters: readonly HttpFilter[]): HttpConnectionManager {
  return create(HttpConnectionManagerSchema, {
    statPrefix,
    routeSpecifier: { case: 'rds', value: { configSource: adsConfigSource(), routeConfigName } },
    httpFilters: [...filters, routerFilter()],
  });
}

function routerFilter(): HttpFilter {
  return create(HttpFilterSchema, {
    name: ROUTER_FILTER,
    configType: { case: 'typedConfig', value: anyPack(RouterSchema, create(RouterSchema)) },
  });
}

/**
 * Envoy only: the filters before the router. First the Lua filter that checks `x-cache-shard`
 * (400 unless an integer in [0, S)) and, when it is absent, sets it from the key header (hash
 * contract 1); then header_to_metadata, which hands the shard to the subset load balancer.
 */
export function envoyShardFilters(shardCount: number, keyHeader: string): HttpFilter[] {
  return [keyShardLuaFilter(shardCount, keyHeader), shardHeaderToMetadataFilter()];
}

/**
 * Envoy only: copies `x-cache-shard` into dynamic metadata envoy.lb/cache-shard as a STRING. The
 * router merges envoy.lb dynamic metadata into the route's metadata match, so one route serves
 * every shard (docs/xds.md "Envoy flavor"). The header stays on the request (remove: false) so cache
 * nodes can check that they own the shard they are asked for.
 */
export function shardHeaderToMetadataFilter(): HttpFilter {
  const config = create(HeaderToMetadataSchema, {
    requestRules: [
      {
        header: SHARD_HEADER,
        onHeaderPresent: { metadataNamespace: LB_METADATA_NAMESPACE, key: SHARD_METADATA_KEY, type: HeaderToMetadata_ValueType.STRING },
        remove: false,
      },
    ],
  });
  return create(HttpFilterSchema, {
    name: HEADER_TO_METADATA_FILTER,
    configType: { case: 'typedConfig', value: anyPack(HeaderToMetadataSchema, config) },
  });
}
