/**
 * A pass-through ADS proxy that meters what keyway sends a client: every DiscoveryResponse on
 * `StreamAggregatedResources` is forwarded unchanged and counted (responses, resources, encoded
 * bytes, by type), so the benchmark reads keyway's traffic per change from the wire, not from keyway.
 */
import { Client, Server, ServerCredentials, credentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { DiscoveryResponseSchema } from '../../src/xds/proto.js';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const raw = (b: Buffer): Buffer => b;

export interface Traffic {
  responses: number;
  resources: number;
  bytes: number;
  /** Resources by short type name (Cluster, ClusterLoadAssignment, ...). */
  byType: Record<string, number>;
}

export interface AdsMeter {
  readonly port: number;
  /** A copy of the counters so far. */
  traffic(): Traffic;
  /** performance.now() of the last response forwarded. */
  lastResponseAt(): number;
  close(): void;
}

/** Listens on 127.0.0.1 (free port) and forwards each ADS stream to keyway at `upstream` (host:port). */
export async function startAdsMeter(upstream: string): Promise<AdsMeter> {
  const counters: Traffic = { responses: 0, resources: 0, bytes: 0, byType: {} };
  let last = performance.now();
  const upstreamClient = new Client(upstream, credentials.createInsecure());
  const server = new Server();
  server.register(
    ADS,
    (down: ServerDuplexStream<Buffer, Buffer>) => {
      const up = upstreamClient.makeBidiStreamRequest(ADS, raw, raw, down.metadata);
      down.on('data', (req: Buffer) => up.write(req));
      down.on('end', () => up.end());
      down.on('error', () => up.cancel());
      down.on('cancelled', () => up.cancel());
      up.on('data', (res: Buffer) => {
        const msg = fromBinary(DiscoveryResponseSchema, res);
        const type = msg.typeUrl.slice(msg.typeUrl.lastIndexOf('.') + 1);
        counters.responses++;
        counters.resources += msg.resources.length;
        counters.bytes += res.length;
        counters.byType[type] = (counters.byType[type] ?? 0) + msg.resources.length;
        last = performance.now();
        down.write(res);
      });
      up.on('end', () => down.end());
      up.on('error', (err: Error & { code?: number }) => down.destroy(err));
    },
    raw,
    raw,
    'bidi',
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    traffic: () => ({ ...counters, byType: { ...counters.byType } }),
    lastResponseAt: () => last,
    close() {
      server.forceShutdown();
      upstreamClient.close();
    },
  };
}
