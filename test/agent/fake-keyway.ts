/**
 * A fake keyway xDS server for the agent's tests: each ownership stream and ReportWarm/ReportLoad
 * call goes to a handler the test writes, so it can answer what keyway never would (refusals,
 * silence, garbage, huge messages) while every byte is still valid gRPC.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { Server, ServerCredentials, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { DeltaDiscoveryRequestSchema, DeltaDiscoveryResponseSchema, ShardAssignmentSchema, type DeltaDiscoveryRequest, type ShardAssignment } from '../../src/xds/proto.js';
import { TYPE_URL } from '../../src/xds/resources.js';
import type { MessageInitShape } from '@bufbuild/protobuf';

export type RawStream = ServerDuplexStream<Buffer, Buffer>;

export interface FakeKeyway {
  readonly address: string;
  /** Streams opened so far. */
  streams: number;
  close(): Promise<void>;
}

const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };

/** Starts a server on 127.0.0.1 whose ownership streams go to `onStream` (n: the stream's number, from 1). */
export async function startFakeKeyway(
  onStream: (call: RawStream, n: number) => void,
  onUnary: (path: string, call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => void = (_p, _c, cb) => cb(null, Buffer.alloc(0)),
  options: Record<string, number> = {},
): Promise<FakeKeyway> {
  const server = new Server(options);
  const fake: FakeKeyway = { address: '', streams: 0, close: async () => server.forceShutdown() };
  server.addService(
    {
      DeltaAggregatedResources: { path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', requestStream: true, responseStream: true, ...raw },
    },
    { DeltaAggregatedResources: (call: RawStream) => onStream(call, ++fake.streams) },
  );
  server.addService(
    {
      ReportWarm: { path: '/keyway.v1.ShardOwnership/ReportWarm', requestStream: false, responseStream: false, ...raw },
      ReportLoad: { path: '/keyway.v1.ShardOwnership/ReportLoad', requestStream: false, responseStream: false, ...raw },
    },
    {
      ReportWarm: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => onUnary('ReportWarm', call, cb),
      ReportLoad: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => onUnary('ReportLoad', call, cb),
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  Object.assign(fake, { address: `127.0.0.1:${port}` });
  return fake;
}

/** A delta response holding SERVING assignments of `shards` (S = `shardCount`), encoded. */
export function assignmentsResponse(shards: readonly number[], shardCount: number, nonce: string, extra: Partial<MessageInitShape<typeof ShardAssignmentSchema>> = {}): Buffer {
  return Buffer.from(
    toBinary(
      DeltaDiscoveryResponseSchema,
      create(DeltaDiscoveryResponseSchema, {
        typeUrl: TYPE_URL.assignment,
        nonce,
        resources: shards.map((shard) => ({
          name: String(shard),
          version: `v${shard}`,
          resource: {
            typeUrl: TYPE_URL.assignment,
            value: toBinary(ShardAssignmentSchema, create(ShardAssignmentSchema, { shard, shardCount, role: 1, phase: 1, reader: true, ...extra } as MessageInitShape<typeof ShardAssignmentSchema>) as ShardAssignment),
          },
        })),
      }),
    ),
  );
}

/** Decodes a request of an ownership stream. */
export function decodeRequest(b: Buffer): DeltaDiscoveryRequest {
  return fromBinary(DeltaDiscoveryRequestSchema, b);
}

/** Ends a stream with `code`, as keyway's refusals do. */
export function refuse(call: RawStream, code: number, details: string): void {
  call.emit('error', { code, details });
}
