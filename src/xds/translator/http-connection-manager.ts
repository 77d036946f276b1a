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
  HttpConnectionManager_ServerHeaderTransformation,
  HttpFilterSchema,
  LocalReplyConfigSchema,
  RouterSchema,
  type HttpConnectionManager,
  type HttpFilter,
  type LocalReplyConfig,
} from '../proto.js';
import type { EnvoySettings } from '../../core/settings.js';
import { adsConfigSource } from './envoy-core.js';
import { badShardMessage, keyShardLuaFilter } from './envoy-key-shard.js';
import {
  HEADER_TO_METADATA_FILTER,
  LB_METADATA_NAMESPACE,
  ROUTER_FILTER,
  SHARD_HEADER,
  SHARD_METADATA_KEY,
} from './names.js';

/**
 * What Envoy does to every request besides routing it (docs/configuration.md, `envoy.dynamicStats`,
 * `envoy.generateRequestId`, `envoy.envoyHeaders`). Undefined for proxyless gRPC, which ignores
 * these fields: its connection manager and router stay empty.
 */
export type RequestExtras = Pick<EnvoySettings, 'dynamicStats' | 'generateRequestId' | 'envoyHeaders'>;

/** An HTTP connection manager whose routes are the route configuration `routeConfigName` (RDS). */
export function httpConnectionManager(
  statPrefix: string,
  routeConfigName: string,
  filters: readonly HttpFilter[],
  localReplyConfig?: LocalReplyConfig,
  extras?: RequestExtras,
): HttpConnectionManager {
  return create(HttpConnectionManagerSchema, {
    statPrefix,
    routeSpecifier: { case: 'rds', value: { configSource: adsConfigSource(), routeConfigName } },
    httpFilters: [...filters, routerFilter(extras)],
    ...(localReplyConfig ? { localReplyConfig } : {}),
    ...(extras ? { generateRequestId: extras.generateRequestId } : {}),
    // `server: envoy` is one of Envoy's own headers too: without envoyHeaders, a node's own passes.
    ...(extras && !extras.envoyHeaders ? { serverHeaderTransformation: HttpConnectionManager_ServerHeaderTransformation.PASS_THROUGH } : {}),
  });
}

function routerFilter(extras: RequestExtras | undefined): HttpFilter {
  // Envoy's defaults add per-request work a cache path does not need: the router's dynamic stats
  // are about 3 % of Envoy's CPU per request, a generated x-request-id about 1 % and Envoy's own
  // headers about half that (docs/benchmarks.md "Envoy's per-request extras").
  const router = extras ? create(RouterSchema, { dynamicStats: extras.dynamicStats, suppressEnvoyHeaders: !extras.envoyHeaders }) : create(RouterSchema);
  return create(HttpFilterSchema, {
    name: ROUTER_FILTER,
    configType: { case: 'typedConfig', value: anyPack(RouterSchema, router) },
  });
}

/**
 * Envoy only: the filters before the router. First the Lua filter that sets `x-cache-shard` from
 * the key header (hash contract 1) when a request has none (a request that has one is routed
 * past it, envoy-routes.ts); then header_to_metadata, which hands the shard to the subset load
 * balancer.
 */
export function envoyShardFilters(shardCount: number, keyHeader: string): HttpFilter[] {
  return [keyShardLuaFilter(shardCount, keyHeader), shardHeaderToMetadataFilter()];
}

/**
 * Envoy only: the 400 for a repeated `x-cache-shard` that a route let past the Lua filter. Newer
 * Envoy (1.40) matches route headers value by value, so `1` and `2` sent together can match the
 * route for a valid shard (envoy-routes.ts), which leaves the filter out; header_to_metadata then
 * stores the values joined by "," and the subset load balancer finds no subset (503). This mapper
 * rewrites any local reply of a request whose stored shard holds a "," into the 400 a bad value
 * gets, the same answer as on Envoy 1.36, where the joined value fails the route's match
 * (docs/envoy-findings.md 8). A request without the metadata is left alone (an unset
 * `match_if_key_not_found` would match it).
 */
export function repeatedShardReply(shardCount: number): LocalReplyConfig {
  return create(LocalReplyConfigSchema, {
    mappers: [
      {
        filter: {
          filterSpecifier: {
            case: 'metadataFilter',
            value: {
              matcher: {
                filter: LB_METADATA_NAMESPACE,
                path: [{ segment: { case: 'key', value: SHARD_METADATA_KEY } }],
                value: { matchPattern: { case: 'stringMatch', value: { matchPattern: { case: 'contains', value: ',' } } } },
              },
              matchIfKeyNotFound: false,
            },
          },
        },
        statusCode: 400,
        body: { specifier: { case: 'inlineString', value: badShardMessage(shardCount) } },
      },
    ],
  });
}

/**
 * Envoy only: copies `x-cache-shard` into dynamic metadata envoy.lb/cache-shard as a STRING. The
 * router merges envoy.lb dynamic metadata into the route's metadata match, so one route serves
 * every shard (docs/xds.md "Envoy flavor"). The header stays on the request (remove: false) so cache
 * nodes can check that they own the shard they are asked for.
 */
function shardHeaderToMetadataFilter(): HttpFilter {
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
