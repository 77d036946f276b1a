/**
 * gRPC service definitions for @grpc/grpc-js built from the protobuf-es descriptors of the xDS
 * discovery services (path `/<package.Service>/<Method>`, as protoc-generated stubs use).
 */
import { fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  AggregatedDiscoveryService,
  ClusterDiscoveryService,
  EndpointDiscoveryService,
  ListenerDiscoveryService,
  RouteDiscoveryService,
} from '../proto.js';
import type { ResourceKind } from '../resources.js';

/**
 * A message to write, or its bytes already encoded: the server assembles discovery responses from
 * pre-encoded resources (see wire.ts) and hands the bytes through unchanged.
 */
export type Outgoing<Desc extends DescMessage> = MessageShape<Desc> | Uint8Array;

function serializer<Desc extends DescMessage>(schema: Desc): (value: Outgoing<Desc>) => Buffer {
  return (value) => {
    const bytes = value instanceof Uint8Array ? value : toBinary(schema, value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/**
 * A request whose bytes do not decode as its message type, handed to the handler in place of the
 * message (`deliverUndecodable`): the handler ends the call with INVALID_ARGUMENT and `message`,
 * and knows its call is over. Left to grpc-js, the call ends with INTERNAL "Error deserializing
 * request" (a server fault, to clients and operators), nothing is logged, and the handler is not
 * told, so it may write on after the status (grpc-js then never sends the trailers: the call hangs).
 */
export class UndecodableRequest {
  /** `the request is not a valid <type>: <why>`. */
  readonly message: string;
  constructor(typeName: string, err: unknown) {
    this.message = `the request is not a valid ${typeName}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Decodes a request, or hands back why it does not decode. */
function decodeOrRefusal<Desc extends DescMessage>(schema: Desc): (bytes: Buffer) => MessageShape<Desc> | UndecodableRequest {
  return (bytes) => {
    try {
      return fromBinary(schema, bytes);
    } catch (err) {
      return new UndecodableRequest(schema.typeName, err);
    }
  };
}

/**
 * The grpc-js definition of `service`, keyed by method name (e.g. `StreamAggregatedResources`).
 * With `deliverUndecodable`, a request that does not decode reaches the handler as an
 * {@link UndecodableRequest}, which it must refuse; otherwise grpc-js ends the call itself (INTERNAL).
 */
export function grpcServiceDefinition(service: DescService, opts: { readonly deliverUndecodable?: boolean } = {}): ServiceDefinition {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const streamsIn = method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming';
    const streamsOut = method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming';
    def[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: streamsIn,
      responseStream: streamsOut,
      requestSerialize: serializer(method.input) as (v: unknown) => Buffer,
      requestDeserialize: opts.deliverUndecodable ? decodeOrRefusal(method.input) : (bytes: Buffer) => fromBinary(method.input, bytes),
      responseSerialize: serializer(method.output) as (v: unknown) => Buffer,
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.localName,
    };
  }
  return def as ServiceDefinition;
}

/** The per-type discovery services and the kind each one serves. */
export const PER_TYPE_SERVICES: readonly { readonly kind: ResourceKind; readonly service: DescService }[] = [
  { kind: 'cluster', service: ClusterDiscoveryService },
  { kind: 'endpoint', service: EndpointDiscoveryService },
  { kind: 'listener', service: ListenerDiscoveryService },
  { kind: 'route', service: RouteDiscoveryService },
];

export { AggregatedDiscoveryService };
