/**
 * keyway's endpoint picker server (docs/gateways.md): a gRPC server on its own port serving
 * `envoy.service.ext_proc.v3.ExternalProcessor` to gateways that follow the Gateway API Inference
 * Extension's endpoint picker protocol, and `grpc.health.v1.Health` for their probes. It reads the
 * serving view like the admin API does and writes nothing.
 */
import { status as GrpcStatus, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { KeywayError } from '../core/errors.js';
import type { ServingReader } from '../core/serving.js';
import { ExternalProcessor, type ProcessingRequest, type ProcessingResponse } from '../xds/proto.js';
import { grpcServiceDefinition, UndecodableRequest } from '../xds/server/index.js';
import { RefusalLog } from '../xds/server/refusal-log.js';
import { HEALTH_SERVICE, healthImplementation } from './health.js';
import { pickTable } from './pick-table.js';
import { PickerStream, type PickerEvents } from './processor.js';

export interface ExtProcServerOptions {
  readonly state: ServingReader;
  /** Port to bind; 0 picks a free one (reported as `port`). */
  readonly port: number;
  readonly host: string;
  readonly logger: Logger;
  readonly events?: PickerEvents;
}

export interface ExtProcServer {
  readonly port: number;
  /** Ends open streams and stops listening. Idempotent. */
  close(): Promise<void>;
}

/** Streams still open this long after close() are cut (a gateway keeps a stream per in-flight request). */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * Pings keep a connection from a vanished gateway (node lost, network cut, no FIN) from holding its
 * ext_proc streams open for good: grpc-js's server never pings by default, and an idle gateway sends
 * nothing. The xDS server's values; grpc-js enforces no minimum on client pings, so a gateway's own
 * HTTP/2 keepalive at any interval is accepted.
 */
const GRPC_OPTIONS = {
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
};

/**
 * Starts the picker. Ready (health SERVING) whenever the serving state holds a shard map.
 * @throws Error when the port cannot be bound (message names the address)
 */
export async function startExtProcServer(opts: ExtProcServerOptions): Promise<ExtProcServer> {
  const { state, logger: log } = opts;
  const server = new Server(GRPC_OPTIONS);
  const refusals = new RefusalLog(log, undefined, 'ProcessingRequests refused');
  let rotation = 0;
  const context = {
    table: () => {
      const view = state.current();
      return view ? pickTable(view) : undefined;
    },
    rotation: () => (rotation = (rotation + 1) % 0x40000000),
    ...(opts.events ? { events: opts.events } : {}),
  };
  /** Each open Process call: its stream's state, and how to end it. */
  const open = new Map<ServerDuplexStream<ProcessingRequest, ProcessingResponse>, { readonly stream: PickerStream; readonly end: () => void }>();
  let shuttingDown = false;
  // A message that does not decode reaches the handler, which ends the stream itself: left to
  // grpc-js, a stream paused for backpressure wrote on after grpc-js's status, which then never went out.
  server.addService(grpcServiceDefinition(ExternalProcessor, { deliverUndecodable: true }), {
    Process(call: ServerDuplexStream<ProcessingRequest, ProcessingResponse>) {
      const stream = new PickerStream(context);
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        call.end();
      };
      open.set(call, { stream, end });
      call.on('data', (req: ProcessingRequest | UndecodableRequest) => {
        if (ended) return;
        let res: ProcessingResponse | undefined;
        try {
          if (req instanceof UndecodableRequest) throw new KeywayError('BAD_ARGUMENT', req.message);
          res = stream.answer(req);
        } catch (err) {
          // A throw here would escape grpc-js's event emitter and end the process: fail this stream only.
          ended = true;
          const bad = err instanceof KeywayError && err.code === 'BAD_ARGUMENT';
          // A gateway repeats what fails on each request: once per burst, with the peer and why, then counted.
          const why = err instanceof Error ? err.message : String(err);
          if (bad) refusals.refused('INVALID_ARGUMENT', { peer: call.getPeer(), error: why }, 'endpoint picker refused a ProcessingRequest (INVALID_ARGUMENT)');
          else refusals.refused('INTERNAL', { peer: call.getPeer(), err }, 'endpoint picker failed on a ProcessingRequest', 'error');
          call.emit('error', { code: bad ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.INTERNAL, details: err instanceof Error ? err.message : String(err) });
          return;
        }
        // Backpressure: a client that stops reading stops being read (grpc-js reads on demand, so
        // HTTP/2 flow control holds it back) instead of keyway buffering every echoed body chunk.
        if (res && !call.write(res)) {
          call.pause();
          call.once('drain', () => call.resume());
        }
        // Ending first spares Envoy a reset of the stream (see processor.ts).
        // Closing: a stream ends as soon as it is answered and no body passes through it (see close()).
        if (stream.done || (shuttingDown && !stream.passingBodies && !stream.awaitingPick)) end();
      });
      call.on('end', end);
      // A gateway cancels the stream when its request ends early; nothing to clean beyond the map.
      call.on('error', () => undefined);
      call.on('close', () => open.delete(call));
    },
  });
  const health = healthImplementation(
    () => state.current() !== undefined,
    (listener) => state.onShardMap(() => listener()),
  );
  server.addService(HEALTH_SERVICE, health.implementation);
  const address = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(new Error(`ext_proc server cannot listen on ${address}: ${err.message}`, { cause: err })) : resolve(bound),
    );
  });
  log.info({ port }, 'endpoint picker (ext_proc) listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // A stream with body chunks passing through keyway goes on until its body is over (then the
        // handler ends it) or the grace ends (then it is cut, and Envoy fails its request): ended
        // now, its chunks in flight would reach the upstream altered. So does one whose request
        // headers have not come yet (opened, its first message still arriving): ended now, Envoy
        // would send its request on unpicked. The others end now.
        shuttingDown = true;
        refusals.close();
        for (const { stream, end } of open.values()) if (!stream.passingBodies && !stream.awaitingPick) end();
        health.shutdown();
        // Settles after the grace even if grpc-js never calls the tryShutdown callback.
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
