/**
 * A stand-in cache node for the proxyless gRPC tests: a gRPC server answering /keyway.test.Cache/Who
 * with its own name (raw bytes), on 127.0.0.1.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';

export const WHO_METHOD = '/keyway.test.Cache/Who';
const raw = (b: Buffer): Buffer => b;

export interface GrpcBackend {
  readonly name: string;
  readonly port: number;
  /** Stops accepting calls and lets the ones in flight finish (a node leaving on purpose). */
  drain(): Promise<void>;
}

export async function startGrpcBackend(name: string): Promise<GrpcBackend> {
  const server = new Server();
  server.addService(
    { Who: { path: WHO_METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Who: (_call: unknown, cb: (err: null, value: Buffer) => void) => cb(null, Buffer.from(name)) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  let drained: Promise<void> | undefined;
  return {
    name,
    port,
    drain() {
      drained ??= new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      return drained;
    },
  };
}
