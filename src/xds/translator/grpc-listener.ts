/**
 * The proxyless gRPC flavor's listener (LDS): an API listener named after the dial target
 * (`xds:///<service>` asks for listener `<service>`), holding an HTTP connection manager whose
 * routes come by RDS over ADS and whose only filter is the router.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { HttpConnectionManagerSchema, ListenerSchema, type Listener } from '../proto.js';
import { httpConnectionManager } from './http-connection-manager.js';

/** API listener `name` for gRPC clients (gRPC A27 "xDS-based global load balancing"). */
export function grpcListener(name: string, routeConfigName: string): Listener {
  const hcm = httpConnectionManager(name, routeConfigName, []);
  return create(ListenerSchema, {
    name,
    apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, hcm) },
  });
}
