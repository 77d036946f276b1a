/**
 * What the failover checks (route-table-check.ts, eject-failover-check.ts) build alike: the
 * static listener of the route-table shape, a matcher on `x-cache-shard` naming each shard's
 * route action, and keyway's failover retry policy as the translator writes it.
 */
import { toJson } from '@bufbuild/protobuf';
import { RetryPolicySchema } from '../../src/xds/proto.js';
import { failoverRetryPolicy } from '../../src/xds/translator/envoy-failover.js';
import { XDS_REGISTRY } from '../../src/xds/translator/index.js';
import { cacheListener } from '../hitrate/routing.js';

type Json = Record<string, unknown>;

/** keyway's failover retry (src/xds/translator/envoy-failover.ts) as bootstrap JSON. */
export function keywayRetryPolicy(): Json {
  return toJson(RetryPolicySchema, failoverRetryPolicy(), { registry: XDS_REGISTRY }) as Json;
}

/** The listener `cache` on 127.0.0.1:`port`: `actions` maps an `x-cache-shard` value to its route action. */
export function shardTableListener(port: number, actions: Record<string, Json>, retryPolicy: Json): Json {
  const map = Object.fromEntries(
    Object.entries(actions).map(([shard, route]) => [
      shard,
      { action: { name: `shard-${shard}`, typed_config: { '@type': 'type.googleapis.com/envoy.config.route.v3.Route', match: { prefix: '/' }, route } } },
    ]),
  );
  return cacheListener(port, {
    route_config: {
      name: 'cache',
      virtual_hosts: [
        {
          name: 'cache',
          domains: ['*'],
          retry_policy: retryPolicy,
          hedge_policy: { hedge_on_per_try_timeout: true },
          matcher: {
            matcher_tree: {
              input: { name: 'shard', typed_config: { '@type': 'type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput', header_name: 'x-cache-shard' } },
              exact_match_map: { map },
            },
          },
        },
      ],
    },
  });
}
