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
import { SHARD_HEADER } from './names.js';

/** A shard number as header_to_metadata stores it: decimal digits (RE2, matched against the whole value). */
export const SHARD_VALUE_REGEX = '[0-9]+';

/**
 * Route configuration `name` with one virtual host for any domain.
 * - any: one route, prefix "/", to `clusterName`.
 * - reject: the route to the cluster only for a header of digits; then a direct 400 naming the
 *   header. Matching the well-formed value (rather than "header absent") also turns away an empty
 *   or non-numeric value, which header_to_metadata would skip and the cluster could not place
 *   (findings 3).
 * The virtual host retries a failed connection on the next priority, i.e. a shard's replicas.
 */
export function envoyRouteConfiguration(
  name: string,
  clusterName: string,
  missingHeader: MissingHeaderPolicy,
  shardCount: number,
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
                    value: `missing or malformed ${SHARD_HEADER} header: send the shard number (0-${shardCount - 1}) as decimal text\n`,
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
