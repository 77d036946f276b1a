/**
 * What an xDS server serves an Envoy, read off the wire (one delta ADS stream): per type URL, each
 * resource's name and packed Any. The benchmark dumps keyway's resources this way, hands the dump
 * to the go-control-plane peer, and reads the peer back the same way to check that both serve the
 * same content before measuring.
 */
import { writeFileSync } from 'node:fs';
import { Client, credentials } from '@grpc/grpc-js';
import { create, equals, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import {
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  ListenerSchema,
  NodeSchema,
  RouteConfigurationSchema,
} from '../../src/xds/proto.js';
import { ADS_DELTA } from './wire.js';

export const TYPES: Readonly<Record<string, DescMessage>> = {
  'type.googleapis.com/envoy.config.cluster.v3.Cluster': ClusterSchema,
  'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment': ClusterLoadAssignmentSchema,
  'type.googleapis.com/envoy.config.listener.v3.Listener': ListenerSchema,
  'type.googleapis.com/envoy.config.route.v3.RouteConfiguration': RouteConfigurationSchema,
};
export const WILDCARD_TYPES = new Set(['type.googleapis.com/envoy.config.cluster.v3.Cluster', 'type.googleapis.com/envoy.config.listener.v3.Listener']);

/** Per type URL, name -> Any bytes (google.protobuf.Any serialized). */
export type Resources = Map<string, Map<string, Uint8Array>>;

const raw = (b: Buffer): Buffer => b;

/**
 * Subscribes to every type (names from `names`, else "*") and returns what the server sent once it
 * has been quiet for `quietMs`.
 */
export async function fetchResources(port: number, names?: Resources, quietMs = 300): Promise<Resources> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(ADS_DELTA, raw, raw);
  const out: Resources = new Map(Object.keys(TYPES).map((t) => [t, new Map()]));
  let last = Date.now();
  call.on('data', (b: Buffer) => {
    const res = fromBinary(DeltaDiscoveryResponseSchema, b);
    for (const r of res.resources) if (r.resource) out.get(res.typeUrl)!.set(r.name, toBinary(AnySchema, r.resource));
    for (const n of res.removedResources) out.get(res.typeUrl)!.delete(n);
    call.write(Buffer.from(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { typeUrl: res.typeUrl, responseNonce: res.nonce }))));
    last = Date.now();
  });
  call.on('error', () => {});
  let first = true;
  for (const typeUrl of Object.keys(TYPES)) {
    const subscribe = names && !WILDCARD_TYPES.has(typeUrl) ? [...names.get(typeUrl)!.keys()] : ['*'];
    const node = first ? create(NodeSchema, { id: `bench-dump-${port}`, cluster: 'bench', userAgentName: 'envoy' }) : undefined;
    first = false;
    call.write(Buffer.from(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { typeUrl, resourceNamesSubscribe: subscribe, ...(node ? { node } : {}) }))));
  }
  const start = Date.now();
  while (Date.now() - last < quietMs || ([...out.values()].every((m) => m.size === 0) && Date.now() - start < 10_000)) await new Promise((r) => setTimeout(r, 50));
  call.cancel();
  client.close();
  return out;
}

/** Writes the dump the peer loads (see benchmarks/peers/go-control-plane/main.go). */
export function writeDump(file: string, version: string, resources: Resources): void {
  const json = {
    version,
    resources: Object.fromEntries([...resources].map(([t, m]) => [t, [...m].map(([name, any]) => ({ name, any: Buffer.from(any).toString('base64') }))])),
  };
  writeFileSync(file, JSON.stringify(json));
}

/** Differences by content (decoded messages compared field by field); empty when both serve the same. */
export function differences(a: Resources, b: Resources): string[] {
  const out: string[] = [];
  for (const [typeUrl, schema] of Object.entries(TYPES)) {
    const x = a.get(typeUrl)!;
    const y = b.get(typeUrl)!;
    if (x.size !== y.size) out.push(`${typeUrl}: ${x.size} vs ${y.size} resources`);
    for (const [name, bytes] of x) {
      const other = y.get(name);
      if (!other) {
        out.push(`${typeUrl} ${name}: missing`);
        continue;
      }
      const m1 = fromBinary(AnySchema, bytes);
      const m2 = fromBinary(AnySchema, other);
      if (m1.typeUrl !== m2.typeUrl || !equals(schema, fromBinary(schema, m1.value), fromBinary(schema, m2.value))) out.push(`${typeUrl} ${name}: content differs`);
    }
  }
  return out;
}

/** Types whose content differs between two dumps (what a change updates). */
export function changedTypes(a: Resources, b: Resources): string[] {
  return Object.keys(TYPES).filter((t) => {
    const x = a.get(t)!;
    const y = b.get(t)!;
    if (x.size !== y.size) return true;
    for (const [n, bytes] of x) if (!y.get(n) || Buffer.compare(Buffer.from(bytes), Buffer.from(y.get(n)!)) !== 0) return true;
    return false;
  });
}
