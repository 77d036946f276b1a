/**
 * The Envoy flavor's listener (LDS): where Envoy accepts cache requests, turning the shard header
 * into load-balancer metadata before the router picks a host.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { HttpConnectionManagerSchema, ListenerSchema, type Listener } from '../proto.js';
import { socketAddress } from './envoy-core.js';
import { envoyShardFilters, httpConnectionManager, repeatedShardReply } from './http-connection-manager.js';
import { HTTP_CONNECTION_MANAGER_FILTER } from './names.js';

/**
 * Listener `name` on 0.0.0.0:`port`: HTTP connection manager with the key-to-shard Lua filter
 * (S = `shardCount`, key in `keyHeader`), header_to_metadata, then the router; routes by RDS; the
 * local reply mapper that answers a repeated `x-cache-shard` with 400.
 * It depends on settings and S only, never on ownership.
 */
export function envoyListener(name: string, port: number, routeConfigName: string, shardCount: number, keyHeader: string): Listener {
  const hcm = httpConnectionManager(name, routeConfigName, envoyShardFilters(shardCount, keyHeader), repeatedShardReply(shardCount));
  return create(ListenerSchema, {
    name,
    address: socketAddress('0.0.0.0', port),
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
