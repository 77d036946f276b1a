/**
 * The Envoy flavor's listener (LDS): where Envoy accepts cache requests, turning the shard header
 * into load-balancer metadata before the router picks a host.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { HttpConnectionManagerSchema, ListenerSchema, type Listener } from '../proto.js';
import { socketAddress } from './envoy-core.js';
import type { EnvoySettings } from '../../core/settings.js';
import { envoyShardFilters, httpConnectionManager, repeatedShardReply } from './http-connection-manager.js';
import { HTTP_CONNECTION_MANAGER_FILTER } from './names.js';

/**
 * Listener `name` on [::]:`envoy.listenerPort` with ipv4_compat: one dual-stack socket for IPv4
 * and IPv6 clients (on 0.0.0.0 every IPv6 client was refused: an application dialing `[::1]` or
 * the pod's IPv6 address, every client of a single-stack IPv6 cluster). HTTP connection manager
 * with the key-to-shard Lua filter (S = `shardCount`, key in `keyHeader`), header_to_metadata, then
 * the router; routes by RDS; the local reply mapper that answers a repeated `x-cache-shard` with
 * 400. Envoy's per-request extras (dynamic stats, generated request ids, its own headers) only
 * where `envoy` asks for them. It depends on settings and S only, never on ownership, and is the
 * same for both route shapes: the route-table shape turns off in its virtual host what it does not
 * use (envoy-route-table.ts). Envoy keeps a connection on the listener that accepted it while that
 * listener drains (600 s by default), but gives it at once the new route configuration of the same
 * name: with a listener per shape, a reload that switched the shape sent the old shape's
 * connections routes they could not serve (no shard metadata for the subset load balancer: 503
 * `no healthy upstream`).
 */
export function envoyListener(name: string, routeConfigName: string, shardCount: number, keyHeader: string, envoy: EnvoySettings): Listener {
  const hcm = httpConnectionManager(name, routeConfigName, envoyShardFilters(shardCount, keyHeader), repeatedShardReply(shardCount), envoy);
  return create(ListenerSchema, {
    name,
    // The proxy host needs IPv6 sockets, which the priority-1 aliases need too (envoy-placement.ts).
    address: socketAddress('::', envoy.listenerPort, true),
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
