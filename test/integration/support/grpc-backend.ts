/**
 * A stand-in cache node for the proxyless gRPC tests: a gRPC server answering /keyway.test.Cache/Who
 * with its own name (raw bytes), on 127.0.0.1.
 */
import { startWhoServer } from '../../support/grpc-who.js';

export { WHO_METHOD } from '../../support/grpc-who.js';

export interface GrpcBackend {
  readonly name: string;
  readonly port: number;
  /** Stops accepting calls and lets the ones in flight finish (a node leaving on purpose). */
  drain(): Promise<void>;
}

export async function startGrpcBackend(name: string): Promise<GrpcBackend> {
  const { server, port } = await startWhoServer(name);
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
