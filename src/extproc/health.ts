/**
 * The gRPC Health Checking Protocol (`grpc.health.v1.Health`, github.com/grpc/grpc
 * doc/health-checking.md) as the endpoint picker protocol asks for it: the services `liveness`,
 * `readiness` and `envoy.service.ext_proc.v3.ExternalProcessor` (and the empty name, the whole
 * server). Liveness is SERVING while the process answers; the other two are SERVING once keyway
 * holds a shard map, on every replica at once (no leader election: every replica answers alike).
 * The two messages have one field each, so they are encoded by hand rather than generated.
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { status as GrpcStatus, type ServerWritableStream, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HEALTH_SERVICES } from './protocol.js';

/** `HealthCheckResponse.ServingStatus`. */
export enum ServingStatus {
  UNKNOWN = 0,
  SERVING = 1,
  NOT_SERVING = 2,
  SERVICE_UNKNOWN = 3,
}

interface HealthCheckRequest {
  readonly service: string;
}

/** `HealthCheckRequest{string service = 1}`. */
export function decodeHealthRequest(bytes: Uint8Array): HealthCheckRequest {
  const reader = new BinaryReader(bytes);
  let service = '';
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (no === 1 && wireType === WireType.LengthDelimited) service = reader.string();
    else reader.skip(wireType, no);
  }
  return { service };
}

/** `HealthCheckResponse{ServingStatus status = 1}`. */
export function encodeHealthResponse(status: ServingStatus): Buffer {
  const w = new BinaryWriter();
  if (status !== ServingStatus.UNKNOWN) w.tag(1, WireType.Varint).int32(status);
  return Buffer.from(w.finish());
}

function encodeHealthRequest(req: HealthCheckRequest): Buffer {
  const w = new BinaryWriter();
  if (req.service !== '') w.tag(1, WireType.LengthDelimited).string(req.service);
  return Buffer.from(w.finish());
}

function decodeHealthResponse(bytes: Uint8Array): ServingStatus {
  const reader = new BinaryReader(bytes);
  let status = ServingStatus.UNKNOWN;
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (no === 1 && wireType === WireType.Varint) status = reader.int32();
    else reader.skip(wireType, no);
  }
  return status;
}

const method = (name: string, responseStream: boolean) => ({
  path: `/grpc.health.v1.Health/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: encodeHealthRequest,
  requestDeserialize: decodeHealthRequest,
  responseSerialize: encodeHealthResponse,
  responseDeserialize: decodeHealthResponse,
});

/** The grpc-js definition of `grpc.health.v1.Health` (Check and Watch); clients use it too. */
export const HEALTH_SERVICE: ServiceDefinition = { Check: method('Check', false), Watch: method('Watch', true) } as ServiceDefinition;

/** The status of `service`: liveness always serves; the rest serve once `ready()`; other names are unknown. */
export function healthOf(service: string, ready: boolean): ServingStatus {
  if (service === 'liveness') return ServingStatus.SERVING;
  if (service === '' || (HEALTH_SERVICES as readonly string[]).includes(service)) return ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  return ServingStatus.SERVICE_UNKNOWN;
}

/** The health service of one server. */
export interface HealthService {
  readonly implementation: UntypedServiceImplementation;
  /**
   * The server is shutting down: every watcher gets NOT_SERVING and its call ends (OK), as gRPC's
   * own health servers do, so it moves away instead of holding the shutdown open until the
   * grace expires and seeing CANCELLED.
   */
  shutdown(): void;
}

/**
 * The implementation: Check answers at once (NOT_FOUND for an unknown service, as the health
 * protocol says); Watch sends the status now and again whenever it changes (`onChange`), until
 * the client cancels or the server shuts down.
 */
export function healthImplementation(ready: () => boolean, onChange: (listener: () => void) => () => void): HealthService {
  const watchers = new Set<() => void>();
  const implementation: UntypedServiceImplementation = {
    Check(call: { request: HealthCheckRequest }, callback: (err: { code: number; details: string } | null, value?: ServingStatus) => void) {
      const status = healthOf(call.request.service, ready());
      if (status === ServingStatus.SERVICE_UNKNOWN) callback({ code: GrpcStatus.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
      else callback(null, status);
    },
    Watch(call: ServerWritableStream<HealthCheckRequest, ServingStatus>) {
      let last: ServingStatus | undefined;
      const send = (): void => {
        const status = healthOf(call.request.service, ready());
        if (status !== last) call.write((last = status));
      };
      send();
      const unsubscribe = onChange(send);
      const stop = (): void => {
        unsubscribe();
        watchers.delete(shutdown);
      };
      function shutdown(): void {
        stop();
        if (last !== ServingStatus.SERVICE_UNKNOWN && last !== ServingStatus.NOT_SERVING) call.write(ServingStatus.NOT_SERVING);
        call.end();
      }
      watchers.add(shutdown);
      call.on('cancelled', stop);
      call.on('close', stop);
    },
  };
  return {
    implementation,
    shutdown() {
      for (const shutdown of [...watchers]) shutdown();
    },
  };
}
