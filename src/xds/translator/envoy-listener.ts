/**
 * The Envoy flavor's listener (LDS): where Envoy accepts cache requests, turning the shard header
 * into load-balancer metadata before the router picks a host.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { HttpConnectionManagerSchema, ListenerSchema, type Listener } from '../proto.js';
import { socketAddress } from './envoy-core.js';
import type { EnvoySettings } from '../../core/settings.js';
import { keyShardLuaFilter } from './envoy-key-shard.js';
import { envoyShardFilters, httpConnectionManager, repeatedShardReply } from './http-connection-manager.js';
import { HTTP_CONNECTION_MANAGER_FILTER } from './names.js';

/**
 * Listener `name` on 0.0.0.0:`envoy.listenerPort`: HTTP connection manager with the key-to-shard Lua filter
 * (S = `shardCount`, key in `keyHeader`), header_to_metadata, then the router; routes by RDS; the
 * local reply mapper that answers a repeated `x-cache-shard` with 400; with the route-table shape,
 * the Lua filter (its script run only where a route names it) and the router. Envoy's per-request
 * extras (dynamic stats, generated request ids, its own headers) only where `envoy` asks for them.
 * It depends on settings and S only, never on ownership.
 */
export function envoyListener(name: string, routeConfigName: string, shardCount: number, keyHeader: string, envoy: EnvoySettings): Listener {
  // The route-table shape needs neither header_to_metadata nor the mapper: the table matches the
  // whole header value, so a repeated one takes the Lua filter's 400 (envoy-route-table.ts).
  const hcm =
    envoy.routeShape === 'table'
      ? httpConnectionManager(name, routeConfigName, [keyShardLuaFilter(shardCount, keyHeader, true)], undefined, envoy)
      : httpConnectionManager(name, routeConfigName, envoyShardFilters(shardCount, keyHeader), repeatedShardReply(shardCount), envoy);
  return create(ListenerSchema, {
    name,
    address: socketAddress('0.0.0.0', envoy.listenerPort),
    filterChains: [
      {
        filters: [
          {
            name: HTTP_CONNECTION_MANAGER_FILTER,
            configType: { case: 'typedConfig', value: anyPack(HttpConnectionManagerSchema, hcm) },
          },
        ],
      },
    ],
  });
}
