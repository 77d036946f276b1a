/**
 * The Envoy flavor's route configuration (RDS). One route sends every request to the one cluster:
 * the shard choice happens in the cluster's subset load balancer, fed by header_to_metadata. With
 * missingHeader=reject, requests without a usable shard header get 400 before reaching it.
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
import { failoverRetryPolicy } from './envoy-failover.js';
import { badShardMessage } from './envoy-key-shard.js';
import { SHARD_HEADER } from './names.js';

/** A shard number as header_to_metadata stores it: decimal digits (RE2, matched against the whole value). */
export const SHARD_VALUE_REGEX = '[0-9]+';

/**
 * Route configuration `name` with one virtual host for any domain.
 * - any: one route, prefix "/", to `clusterName`.
 * - reject: the route to the cluster only for a header of digits; then a direct 400 naming the
 *   headers, in the words of the Lua filter's 400 for a bad value. The Lua filter (listener) has
 *   already answered 400 to every malformed `x-cache-shard` and set it from the key header, so
 *   only a request with neither header gets here; matching the well-formed value (rather than
 *   "header present") keeps that true without the filter (findings 3).
 * The virtual host retries a failed connection on the next priority, i.e. a shard's replicas.
 */
export function envoyRouteConfiguration(
  name: string,
  clusterName: string,
  missingHeader: MissingHeaderPolicy,
  shardCount: number,
  keyHeader: string,
): RouteConfiguration {
  const toCluster = (headers: MessageInitShape<typeof HeaderMatcherSchema>[]): Route =>
    create(RouteSchema, {
      match: { pathSpecifier: { case: 'prefix', value: '/' }, headers },
      action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: clusterName } } },
    });
  const routes: Route[] =
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
    virtualHosts: [{ name, domains: ['*'], routes, retryPolicy: failoverRetryPolicy() }],
  });
}

/** The body of the reject route's 400: neither `x-cache-shard` nor the key header was sent. */
export function missingShardMessage(shardCount: number, keyHeader: string): string {
  return `missing ${SHARD_HEADER} and ${keyHeader} headers: ${badShardMessage(shardCount).trimEnd()}, or send the key in ${keyHeader}\n`;
}
