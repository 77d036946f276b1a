/**
 * grpc-js-xds's own decoder and validator (the code a proxyless client runs on each resource), for
 * tests that check whole translations: the first problem it finds in a gRPC-flavor set, if any.
 * Its build files are plain CommonJS without an exports map, so the deep paths resolve.
 */
import { createRequire } from 'node:module';
import { toBinary } from '@bufbuild/protobuf';
import { KIND_ORDER, TYPE_URL, type ResourceSet } from '../../../src/xds/resources.js';

const require = createRequire(import.meta.url);
// What a client application calls first: registers the LB policies and HTTP filters the validators look up.
(require('@grpc/grpc-js-xds') as { register(): void }).register();
const base = '@grpc/grpc-js-xds/build/src/xds-resource-type/';
/** grpc-js-xds's resource types, by keyway's resource kind: `decode` validates as a client does. */
export const grpcJsValidators = {
  cluster: require(`${base}cluster-resource-type.js`).ClusterResourceType.get(),
  endpoint: require(`${base}endpoint-resource-type.js`).EndpointResourceType.get(),
  listener: require(`${base}listener-resource-type.js`).ListenerResourceType.get(),
  route: require(`${base}route-config-resource-type.js`).RouteConfigurationResourceType.get(),
} as Record<string, { decode(ctx: unknown, r: { type_url: string; value: Buffer }): { name: string; error?: string; value?: unknown } }>;

/** The first resource of `set` grpc-js-xds rejects, with its reason; undefined when it takes them all. */
export function grpcJsRejects(set: ResourceSet): string | undefined {
  const context = { bootstrap: { certificateProviders: {} } };
  for (const kind of KIND_ORDER) {
    const validator = grpcJsValidators[kind];
    if (!validator) continue;
    for (const r of set[kind] ?? []) {
      const decoded = validator.decode(context, { type_url: TYPE_URL[kind], value: Buffer.from(toBinary(r.schema, r.message)) });
      if (decoded.error !== undefined) return `${kind} ${r.name}: ${decoded.error}`;
      if (decoded.name !== r.name) return `${kind} ${r.name}: decoded as ${decoded.name}`;
    }
  }
  return undefined;
}
