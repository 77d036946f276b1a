/**
 * The Envoy flavor's route configuration (RDS). Every route that forwards goes to the one cluster:
 * the shard choice happens in the cluster's subset load balancer, fed by header_to_metadata. A
 * request that already carries a shard header is answered by the first two routes, which leave the
 * key-to-shard Lua filter out of its chain (docs/envoy-findings.md 8: running the filter at all is
 * most of its cost). With missingHeader=reject, requests without a usable shard header get 400
 * before reaching the cluster.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  RouteConfigurationSchema,
  RouteSchema,
  type HeaderMatcherSchema,
  type Route,
  type RouteConfiguration,
} from '../proto.js';
import type { MissingHeaderPolicy } from '../../core/settings.js';
import { failoverPolicies } from './envoy-failover.js';
import { badShardMessage, filterDisabled } from './envoy-key-shard.js';
import { LUA_FILTER, SHARD_HEADER } from './names.js';

/** A shard number as header_to_metadata stores it: decimal digits (RE2, matched against the whole value). */
export const SHARD_VALUE_REGEX = '[0-9]+';

/**
 * A shard number as the Lua filter and the cache nodes accept it: canonical decimal (no sign, no
 * leading zero) of at most as many digits as S - 1. The route pairs it with a range match [0, S).
 */
function canonicalShardRegex(shardCount: number): string {
  const digits = String(Math.max(0, shardCount - 1)).length;
  return digits === 1 ? '[0-9]' : `0|[1-9][0-9]{0,${digits - 1}}`;
}

/**
 * Route configuration `name` with one virtual host for any domain. First, with the Lua filter
 * disabled on both (for such a request it would only repeat their check):
 * - a canonical `x-cache-shard` in [0, S): to `clusterName`;
 * - any other `x-cache-shard`: a direct 400 in the Lua filter's words.
 * A repeated header is joined with "," for route matching on Envoy up to 1.36 (so the 400 route)
 * but matched value by value on newer Envoy (so maybe the first route); either way
 * header_to_metadata stores the joined value, and the listener's local reply mapper turns that
 * request's reply into the same 400 (http-connection-manager.ts). Then, for requests with no
 * shard header (the Lua filter runs, sets the header from the key and clears the route cache, so
 * such a request comes back to the first route):
 * - any: one route, prefix "/", to `clusterName`;
 * - reject: the route to the cluster only for a header of digits; then a direct 400 naming the
 *   headers. Matching the well-formed value (rather than "header present") keeps a request with
 *   neither header off the cluster even without the filter (findings 3).
 * The virtual host retries a failed connection on the next priority, i.e. a shard's replicas, and
 * sends there too a request whose answer has not started within `perTryTimeoutMs` (0: never).
 */
export function envoyRouteConfiguration(
  name: string,
  clusterName: string,
  missingHeader: MissingHeaderPolicy,
  shardCount: number,
  keyHeader: string,
  perTryTimeoutMs: number,
): RouteConfiguration {
  const toCluster = (headers: MessageInitShape<typeof HeaderMatcherSchema>[]): Route =>
    create(RouteSchema, {
      match: { pathSpecifier: { case: 'prefix', value: '/' }, headers },
      action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: clusterName } } },
    });
  const withoutLua = { [LUA_FILTER]: filterDisabled() };
  const shardHeaderRoutes: Route[] = [
    create(RouteSchema, {
      ...toCluster([
        { name: SHARD_HEADER, headerMatchSpecifier: { case: 'stringMatch', value: { matchPattern: { case: 'safeRegex', value: { regex: canonicalShardRegex(shardCount) } } } } },
        { name: SHARD_HEADER, headerMatchSpecifier: { case: 'rangeMatch', value: { start: 0n, end: BigInt(shardCount) } } },
      ]),
      typedPerFilterConfig: withoutLua,
    }),
    create(RouteSchema, {
      match: { pathSpecifier: { case: 'prefix', value: '/' }, headers: [{ name: SHARD_HEADER, headerMatchSpecifier: { case: 'presentMatch', value: true } }] },
      action: { case: 'directResponse', value: { status: 400, body: { specifier: { case: 'inlineString', value: badShardMessage(shardCount) } } } },
      typedPerFilterConfig: withoutLua,
    }),
  ];
  const keyRoutes: Route[] =
    missingHeader === 'any'
      ? [toCluster([])]
      : [
          toCluster([
            {
              name: SHARD_HEADER,
              headerMatchSpecifier: {
                case: 'stringMatch',
                value: { matchPattern: { case: 'safeRegex', value: { regex: SHARD_VALUE_REGEX } } },
              },
            },
          ]),
          create(RouteSchema, {
            match: { pathSpecifier: { case: 'prefix', value: '/' } },
            action: {
              case: 'directResponse',
              value: {
                status: 400,
                body: {
                  specifier: {
                    case: 'inlineString',
                    value: missingShardMessage(shardCount, keyHeader),
                  },
                },
              },
            },
          }),
        ];
  return create(RouteConfigurationSchema, {
    name,
    virtualHosts: [{ name, domains: ['*'], routes: [...shardHeaderRoutes, ...keyRoutes], ...failoverPolicies(perTryTimeoutMs) }],
  });
}

/** The body of the reject route's 400: neither `x-cache-shard` nor the key header was sent. */
export function missingShardMessage(shardCount: number, keyHeader: string): string {
  return `missing ${SHARD_HEADER} and ${keyHeader} headers: ${badShardMessage(shardCount).trimEnd()}, or send the key in ${keyHeader}\n`;
}
