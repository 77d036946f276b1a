/**
 * xDS clients written at the HTTP/2 level, for the adversarial suite (docs/security.md "xDS streams"):
 * many ADS streams on a few connections (a disconnect storm, a locality flood), and a stream whose
 * reader never reads (Node answers HTTP/2 pings, but a paused stream sends no WINDOW_UPDATE, so the
 * server's responses pile up on its side unless it applies backpressure).
 */
import http2 from 'node:http2';
import net from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { DeltaDiscoveryRequestSchema, DiscoveryRequestSchema } from '../../src/xds/proto.js';
import { TYPE_URL, type ResourceKind } from '../../src/xds/resources.js';

export interface RawNode {
  readonly id: string;
  readonly userAgentName?: string;
  readonly zone?: string;
  readonly subZone?: string;
}

const SOTW_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const DELTA_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

/** One gRPC message frame: flag 0 (not compressed), 4-byte big-endian length, the bytes. */
function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.byteLength);
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

function nodeOf(n: RawNode) {
  return {
    id: n.id,
    cluster: 'adversarial',
    userAgentName: n.userAgentName ?? 'envoy',
    locality: { region: '', zone: n.zone ?? '', subZone: n.subZone ?? '' },
  };
}

/** A SotW DiscoveryRequest frame carrying the node. */
export function sotwRequest(node: RawNode, kind: ResourceKind, names: readonly string[] = []): Buffer {
  return frame(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node: nodeOf(node), typeUrl: TYPE_URL[kind], resourceNames: [...names] })));
}

/** A delta request frame; the node only on the first. */
export function deltaRequest(node: RawNode | undefined, kind: ResourceKind, subscribe: readonly string[]): Buffer {
  return frame(
    toBinary(
      DeltaDiscoveryRequestSchema,
      create(DeltaDiscoveryRequestSchema, { ...(node && { node: nodeOf(node) }), typeUrl: TYPE_URL[kind], resourceNamesSubscribe: [...subscribe] }),
    ),
  );
}

export interface RawStream {
  readonly stream: http2.ClientHttp2Stream;
  /** Resolves when the stream ends: its grpc-status trailer, or the RST_STREAM code, or the error. */
  readonly ended: Promise<{ grpcStatus?: number; grpcMessage?: string; rstCode?: number; error?: string }>;
  /** Response bytes read (0 for a stream that never reads). */
  received(): number;
}

/** Opens one ADS stream on `session` and writes `first`; `read: false` leaves it paused for ever. */
export function openStream(session: http2.ClientHttp2Session, first: Buffer, opts: { read?: boolean; delta?: boolean } = {}): RawStream {
  const stream = session.request({
    ':method': 'POST',
    ':path': opts.delta ? DELTA_PATH : SOTW_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  let bytes = 0;
  let trailers: http2.IncomingHttpHeaders | undefined;
  // The server's status ends its half only; like a gRPC client, close ours once it arrives.
  const onStatus = (h: http2.IncomingHttpHeaders): void => {
    trailers = h;
    stream.close();
  };
  stream.on('trailers', onStatus);
  stream.on('response', (h) => {
    if (h['grpc-status'] !== undefined) onStatus(h);
  });
  if (opts.read === false) stream.pause();
  else stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const ended = new Promise<{ grpcStatus?: number; grpcMessage?: string; rstCode?: number; error?: string }>((resolve) => {
    stream.on('close', () => {
      const status = trailers?.['grpc-status'];
      const message = trailers?.['grpc-message'];
      resolve({
        ...(status !== undefined && { grpcStatus: Number(status) }),
        ...(typeof message === 'string' && { grpcMessage: decodeURIComponent(message) }),
        ...(stream.rstCode !== undefined && { rstCode: stream.rstCode }),
      });
    });
    stream.on('error', (err) => resolve({ error: err.message, ...(stream.rstCode !== undefined && { rstCode: stream.rstCode }) }));
  });
  stream.write(first);
  return { stream, ended, received: () => bytes };
}

/** A client connection to keyway's xDS port on 127.0.0.1, from `localAddress` (another loopback address looks like another host). */
export function connect(port: number, localAddress?: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    ...(localAddress && { createConnection: () => net.connect({ host: '127.0.0.1', port, localAddress }) }),
  });
  session.on('error', () => {
    /* the test looks at its streams */
  });
  return session;
}
