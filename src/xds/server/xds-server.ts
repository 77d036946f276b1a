/**
 * The xDS gRPC server (docs/architecture.md "The pipeline", xDS server): ADS in both forms
 * (StreamAggregatedResources, DeltaAggregatedResources) and the per-type services for clusters,
 * endpoints, listeners and routes (Stream* and Delta*; Fetch* answers UNIMPLEMENTED), all on one
 * port and all sharing the session logic; beside them the ownership service's ReportWarm
 * (docs/ownership.md) and ReportLoad (docs/load-reports.md).
 */
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type sendUnaryData,
  type UntypedServiceImplementation,
  type ChannelOptions,
} from '@grpc/grpc-js';
import { constants as http2 } from 'node:http2';
import { type Logger, pino } from 'pino';
import type { DescService } from '@bufbuild/protobuf';
import type { SnapshotSource } from '../cache/index.js';
import { ShardOwnership, type DeltaDiscoveryRequest, type DiscoveryRequest } from '../proto.js';
import { AggregatedDiscoveryService, grpcServiceDefinition, PER_TYPE_SERVICES, UndecodableRequest } from './grpc-services.js';
import { reportWarmHandler } from './ownership-service.js';
import { reportLoadHandler } from './load-report-service.js';
import type { WarmReportSink } from '../../core/handoff.js';
import type { LoadReportSink } from '../../core/load.js';
import { DeltaSession } from './delta-session.js';
import { SotwSession } from './sotw-session.js';
import { RouteSubscriptions } from './route-subscriptions.js';
import { limitExceeded, ProtocolError, sharedMemos, type Session, type SessionContext, type StreamPeer } from './session.js';
import { StreamOutbox, type StreamOutput } from './outbox.js';
import { acceptsSharedFrames } from './grpc-framing.js';
import { DEFAULT_XDS_STREAM_LIMITS, MAX_CONNECTION_AGE_NEVER_MS, MAX_TIMER_MS, XDS_LIMIT_ENV, type XdsStreamLimits } from './stream-limits.js';
import { RefusalLog } from './refusal-log.js';
import { StreamChurnLog } from './stream-churn-log.js';
import { ProxyRegistry, type HeldKind, type ProxyStatus, type SentResources, type StreamService } from './proxy-state.js';
import type { ResourceKind } from '../resources.js';
import type { OverLimitEvent, RefusedEvent, StreamLimitReason, XdsServerEvents } from './events.js';
import type { SubscriptionHoldOff } from './hold-off.js';
import { proxyConfigDump } from './config-dump.js';
import { nodeIdAdmission, streamPeer } from './peer-identity.js';
import { loadXdsTlsCredentials, type ServedCertificate, type XdsTlsSettings } from './tls-credentials.js';
import type { NackingProxy, ProxyStatusReader, ProxySyncSummary } from '../../core/proxy.js';

export interface XdsServerOptions {
  readonly cache: SnapshotSource;
  /** 0 picks a free port; the bound one is in `XdsServer.port`. */
  readonly port: number;
  /** Interface to bind; default 0.0.0.0 (proxies connect from other hosts). */
  readonly host?: string;
  readonly logger?: Logger;
  /** Written as ControlPlane.identifier in every response (e.g. the pod name of this replica). */
  readonly controlPlaneId?: string;
  /** Extra grpc-js server options (merged over keyway's keepalive defaults). */
  readonly grpcOptions?: ChannelOptions;
  /** Observer of streams opened, responses written, ACKs, NACKs and closed streams (metrics, change traces). */
  readonly events?: XdsServerEvents;
  /** Where `ShardOwnership/ReportWarm` reports go (docs/ownership.md); without it that RPC answers UNIMPLEMENTED. */
  readonly warm?: WarmReportSink | undefined;
  /** Where `ShardOwnership/ReportLoad` reports go (docs/load-reports.md); without it that RPC answers UNIMPLEMENTED. */
  readonly load?: LoadReportSink | undefined;
  /** S of the view in force, to check reported shards; default: no map (ReportWarm and ReportLoad answer UNAVAILABLE). */
  readonly shardCount?: () => number | undefined;
  /** Whether a node id is an endpoint of the view in force: ReportLoad refuses others (docs/load-reports.md); default any id. */
  readonly isEndpoint?: (nodeId: string) => boolean;
  /** Per-stream limits (docs/security.md "xDS streams"); unset ones keep DEFAULT_XDS_STREAM_LIMITS. */
  readonly limits?: Partial<XdsStreamLimits>;
  /** TLS (and with `clientCaFile`, mTLS and the node-id rule; docs/security.md); absent: plaintext. */
  readonly tls?: XdsTlsSettings;
  /** How long a burst of subscription changes waits to be answered once; default DEFAULT_SUBSCRIPTION_HOLD_OFF (docs/xds-protocol.md). */
  readonly holdOff?: SubscriptionHoldOff;
}

/** The running server; it is the proxy-status reader the admin API serves. */
export interface XdsServer extends ProxyStatusReader {
  /** The bound port. */
  readonly port: number;
  /** One row per connected node id (see docs/xds-protocol.md). */
  proxies(opts?: { readonly namesShown?: number }): ProxyStatus[];
  /** The nodes that NACK, with only their NACKed types: no row built (ProxyRegistry.nacking). */
  nacking(): NackingProxy[];
  /** Per node, its flavor and per-kind sync status as its row shows them: no row built (ProxyRegistry.statuses). */
  statuses(): ProxySyncSummary[];
  /** Per kind, the resources the node holds from keyway (for /debug/config_dump); undefined if not connected. */
  sentResources(nodeId: string): SentResources | undefined;
  /** For each node of served class `classKey`, what it holds per kind: no rows built (ProxyRegistry.heldByClass). */
  heldByClass(classKey: string): Iterable<(kind: ResourceKind) => HeldKind | undefined>;
  /** Does the node hold an open stream? O(1): asked on every stream close. */
  connected(nodeId: string): boolean;
  /** Does an open stream subscribe to route configuration `name` over RDS (SotW or delta)? O(1) (docs/xds.md "A renamed service"). */
  routeSubscribed(name: string): boolean;
  /** The validity of the TLS server certificate in use (the last set that loaded); undefined without TLS. */
  tlsCertificate(): ServedCertificate | undefined;
  /** Ends every stream (status OK, proxies reconnect elsewhere) and stops the server. */
  close(): Promise<void>;
}

const DEFAULT_GRPC_OPTIONS: ChannelOptions = {
  // Ping idle proxies so a vanished one is noticed and its stream state released.
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
};
const SHUTDOWN_GRACE_MS = 2_000;

/** Starts the xDS server on `host:port` (plaintext, TLS or mTLS per `opts.tls`) and resolves once it is bound. */
export async function startXdsServer(opts: XdsServerOptions): Promise<XdsServer> {
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'xds' });
  const limits: XdsStreamLimits = { ...DEFAULT_XDS_STREAM_LIMITS, ...opts.limits };
  const registry = new ProxyRegistry();
  const tls = opts.tls ? await loadXdsTlsCredentials(opts.tls, log) : undefined;
  // Under mTLS a stream's node id must be named by its client certificate (no impersonation).
  const admit = opts.tls?.clientCaFile !== undefined ? nodeIdAdmission({ allowedSans: opts.tls.allowedSans ?? [] }) : undefined;
  // What a fleet's churn or a client's loop repeats is logged per burst or per minute, not per stream.
  const churn = new StreamChurnLog(log, () => registry.streamCount);
  const nacks = new RefusalLog(log, undefined, 'NACKs', undefined, undefined, { key: 'nacked', count: 'nacks' });
  const overLimits = new RefusalLog(log, undefined, 'xDS streams closed over a limit');
  // A route name's last RDS subscriber gone: told once for all streams (RouteReleasedEvent).
  const routes = new RouteSubscriptions((name) => {
    try {
      opts.events?.routeReleased?.({ name });
    } catch (err) {
      log.error({ err, event: 'routeReleased' }, 'xDS event observer failed');
    }
  });
  const ctx: SessionContext = { cache: opts.cache, registry, logger: log, controlPlane: opts.controlPlaneId, events: withOwnershipStreams(opts.events, opts.warm), limits, memos: sharedMemos(limits.maxSharedBytes), churn, nacks, routes, ...(admit ? { admit } : {}), ...(opts.holdOff ? { holdOff: opts.holdOff } : {}) };
  /** Open streams, each with what ends it at shutdown (status OK, its timers and places released). */
  const open = new Map<Session, (reason: string) => void>();
  /** Open streams per client connection (peer `host:port`). */
  const perConnection = new Map<string, number>();
  /** Open streams in all (KEYWAY_XDS_MAX_STREAMS). */
  let held = 0;
  const refusals = new RefusalLog(log);
  const reportRefusals = new RefusalLog(log, undefined, 'reports refused');
  let streamSeq = 0;
  let warnedFraming = false;
  /** Can this call write shared gRPC frames as they are? Logged once when grpc-js does not allow it. */
  const sharedFrames = (call: unknown): boolean => {
    const ok = acceptsSharedFrames(call);
    if (!ok && !warnedFraming) {
      warnedFraming = true;
      log.warn('grpc-js internals changed: shared xDS responses are framed again per stream (same bytes, more CPU)');
    }
    return ok;
  };

  function bidi<Req>(make: (id: string, out: StreamOutput, peer: StreamPeer) => Session & { onRequest(req: Req): void }) {
    return (call: ServerDuplexStream<Req, Uint8Array>): void => {
      const id = String(++streamSeq);
      const peer = streamPeer(call);
      const address = peer.address;
      const onConnection = (perConnection.get(address) ?? 0) + 1;
      const refusal =
        onConnection > limits.maxStreamsPerConnection
          ? { limit: XDS_LIMIT_ENV.maxStreamsPerConnection, text: `connection ${address} already holds ${onConnection - 1} xDS streams (the limit is ${limits.maxStreamsPerConnection}, ${XDS_LIMIT_ENV.maxStreamsPerConnection})` }
          : held >= limits.maxStreams
            ? { limit: XDS_LIMIT_ENV.maxStreams, text: `this keyway replica already holds ${held} xDS streams (the limit is ${limits.maxStreams}, ${XDS_LIMIT_ENV.maxStreams}); retry later or on another replica` }
            : undefined;
      if (refusal) {
        const err = limitExceeded(refusal.text);
        refusals.refused(refusal.limit, { stream: id, peer: address }, err.message);
        emitRefused(opts.events, { limit: refusal.limit, peer: address }, log);
        call.emit('error', { code: err.code, details: err.message });
        // A client retries on the connection it has, which would bring it back here for as long as
        // the connection lives: past the replica's cap, the connection is drained so the retry
        // opens a new one, through the Service perhaps to a replica with room.
        if (refusal.limit === XDS_LIMIT_ENV.maxStreams) drainConnection(call, log);
        return;
      }
      perConnection.set(address, onConnection);
      held += 1;
      const outbox = new StreamOutbox(call as unknown as ConstructorParameters<typeof StreamOutbox>[0], limits, {
        onWritable: () => s.onWritable(),
        onOverLimit: (reason, limit) => {
          overLimits.refused(OVER_LIMIT_SETTING[limit], { stream: id, peer: address, reason }, `LIMIT_EXCEEDED: xDS stream closed (RESOURCE_EXHAUSTED): ${reason}`);
          emitOverLimit(opts.events, { reason: limit, streamId: id, peer: address }, log);
          done(`LIMIT_EXCEEDED: ${reason}`);
          // The proxy does not read, so a status would wait behind the bytes it never takes: reset the
          // HTTP/2 stream (ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED) to free them.
          resetStream(call, log);
        },
      }, sharedFrames(call));
      const s = make(id, outbox, peer);
      let released = false;
      const firstRequest = firstRequestDeadline(limits.firstRequestTimeoutMs, () => {
        if (released) return;
        const setting = XDS_LIMIT_ENV.firstRequestTimeoutMs;
        const err = limitExceeded(
          `the stream sent no request in ${limits.firstRequestTimeoutMs} ms (the limit is ${limits.firstRequestTimeoutMs}, ${setting}); an xDS client sends its first request, with node.id, as it opens the stream`,
        );
        refusals.refused(setting, { stream: id, peer: address }, err.message);
        emitRefused(opts.events, { limit: setting, peer: address }, log);
        done(err.message);
        call.emit('error', { code: err.code, details: err.message });
      });
      const done = (reason: string): void => {
        clearTimeout(firstRequest.timer);
        s.close(reason);
        open.delete(s);
        outbox.dispose();
        if (released) return;
        released = true;
        held -= 1;
        const n = (perConnection.get(address) ?? 1) - 1;
        if (n <= 0) perConnection.delete(address);
        else perConnection.set(address, n);
      };
      open.set(s, (reason) => {
        done(reason);
        call.end();
      });
      call.on('data', (req: Req | UndecodableRequest) => {
        firstRequest.arrived();
        if (s.closed) return;
        try {
          if (req instanceof UndecodableRequest) throw new ProtocolError(GrpcStatus.INVALID_ARGUMENT, req.message);
          s.onRequest(req);
        } catch (err) {
          const code = err instanceof ProtocolError ? err.code : GrpcStatus.INTERNAL;
          const details = err instanceof Error ? err.message : String(err);
          if (code === GrpcStatus.INTERNAL) log.error({ err, stream: s.id }, 'xDS stream failed');
          else if (req instanceof UndecodableRequest) refusals.refused(undecodableKey(call.getPath()), { stream: s.id, peer: address }, `xDS stream ended (INVALID_ARGUMENT): ${details}`);
          else if (err instanceof ProtocolError && err.refusedAt !== undefined) {
            // A refusal at the first request a client can repeat in a loop: logged once per burst.
            refusals.refused(err.refusedAt, { stream: s.id, peer: address }, details);
            emitRefused(opts.events, { limit: err.refusedAt, peer: address }, log);
          } else if (code === GrpcStatus.RESOURCE_EXHAUSTED) {
            const setting = err instanceof ProtocolError && err.overLimit ? OVER_LIMIT_SETTING[err.overLimit] : 'RESOURCE_EXHAUSTED';
            overLimits.refused(setting, { stream: s.id, peer: address }, `xDS stream closed (RESOURCE_EXHAUSTED): ${details}`);
            if (err instanceof ProtocolError && err.overLimit) emitOverLimit(opts.events, { reason: err.overLimit, streamId: s.id, peer: address }, log);
          }
          else if (code === GrpcStatus.UNAUTHENTICATED || code === GrpcStatus.PERMISSION_DENIED) {
            // A client the CA signed for can repeat this in a loop too: once per burst and certificate.
            const identities = s.peer.identities ?? [];
            refusals.refused(`${GrpcStatus[code]} ${JSON.stringify(identities.slice(0, 8)).slice(0, 400)}`, { stream: s.id, peer: address, identities: identities.slice(0, 8), error: details }, 'xDS stream refused');
          }
          done(details);
          call.emit('error', { code, details });
        }
        releaseReadChunk(call);
      });
      call.on('end', () => {
        done('client half-closed');
        call.end();
      });
      call.on('cancelled', () => done('cancelled'));
      call.on('error', (err: Error) => done(`error: ${err.message}`));
      call.on('close', () => done('closed'));
    };
  }

  const unimplemented = (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    callback({ code: GrpcStatus.UNIMPLEMENTED, details: 'keyway serves xDS over streams only (Stream*/Delta*)' });
  };

  const server = new Server({ ...DEFAULT_GRPC_OPTIONS, ...grpcConnectionOptions(limits), ...opts.grpcOptions });
  const addService = (desc: DescService, service: StreamService): void => {
    const impl: UntypedServiceImplementation = {};
    for (const method of desc.methods) {
      if (method.methodKind !== 'bidi_streaming') impl[method.name] = unimplemented;
      else if (method.input.typeName.endsWith('DeltaDiscoveryRequest')) {
        impl[method.name] = bidi<DeltaDiscoveryRequest>((id, out, peer) => new DeltaSession(ctx, id, service, out, peer));
      } else {
        impl[method.name] = bidi<DiscoveryRequest>((id, out, peer) => new SotwSession(ctx, id, service, out, peer));
      }
    }
    server.addService(grpcServiceDefinition(desc, { deliverUndecodable: true }), impl);
  };
  addService(AggregatedDiscoveryService, 'ads');
  for (const { kind, service } of PER_TYPE_SERVICES) addService(service, kind);
  server.addService(grpcServiceDefinition(ShardOwnership, { deliverUndecodable: true }), {
    ReportWarm: refuseUndecodable(reportRefusals, reportWarmHandler({ sink: opts.warm, shardCount: opts.shardCount ?? (() => undefined), logger: log, maxNodeIdLength: limits.maxNodeIdLength, refusals: reportRefusals, ...(admit ? { admit } : {}) })),
    ReportLoad: refuseUndecodable(reportRefusals, reportLoadHandler({
      sink: opts.load,
      shardCount: opts.shardCount ?? (() => undefined),
      logger: log,
      maxNodeIdLength: limits.maxNodeIdLength,
      refusals: reportRefusals,
      ...(admit ? { admit } : {}),
      ...(opts.isEndpoint ? { isEndpoint: opts.isEndpoint } : {}),
    })),
  });

  const host = opts.host ?? '0.0.0.0';
  const address = host.includes(':') ? `[${host}]:${opts.port}` : `${host}:${opts.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    // Named as the xDS port: grpc-js says only "No address added out of total 1 resolved".
    server.bindAsync(address, tls?.credentials ?? ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(new Error(`xDS server cannot listen on ${address}: ${err.message}`, { cause: err })) : resolve(bound),
    );
  }).catch((err: unknown) => {
    tls?.close();
    throw err;
  });
  log.info({ host, port, transport: !opts.tls ? 'plaintext' : admit ? 'mtls' : 'tls' }, 'xDS server listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    proxies: (o) => registry.proxies(o),
    nodeIds: (flavor) => registry.nodeIds(flavor),
    nacking: () => registry.nacking(),
    statuses: () => registry.statuses(),
    proxy: (nodeId, o) => registry.proxy(nodeId, o),
    sentResources: (nodeId) => registry.sentResources(nodeId),
    heldByClass: (classKey) => registry.heldByClass(classKey),
    connected: (nodeId) => registry.streamsOf(nodeId) > 0,
    routeSubscribed: (name) => routes.has(name),
    tlsCertificate: () => tls?.served(),
    configDump(nodeId) {
      const row = registry.proxy(nodeId);
      const sent = registry.sentResources(nodeId);
      return row && sent ? proxyConfigDump(row, sent) : undefined;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const end of [...open.values()]) end('server shutdown');
        tls?.close();
        refusals.close();
        reportRefusals.close();
        nacks.close();
        overLimits.close();
        churn.close();
        // After the grace, forced; close() settles then whether or not grpc-js calls the
        // tryShutdown callback, so a shutdown is bounded by the grace.
        const force = setTimeout(() => {
          server.forceShutdown();
          log.info({ port }, 'xDS server closed (forced after the grace period)');
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          log.info({ port }, 'xDS server closed');
          resolve();
        });
      });
      return closing;
    },
  };
}

/**
 * The grpc-js options of the connection limits (docs/security.md "xDS streams"): idle connections
 * closed, connections aged out so clients spread over the replicas again. grpc-js treats
 * MAX_TIMER_MS as "never"; past MAX_CONNECTION_AGE_NEVER_MS its jittered age timer would fire after 1 ms.
 */
export function grpcConnectionOptions(limits: XdsStreamLimits): ChannelOptions {
  const aged = limits.maxConnectionAgeMs < MAX_CONNECTION_AGE_NEVER_MS;
  return {
    'grpc.max_connection_idle_ms': Math.min(limits.maxConnectionIdleMs, MAX_TIMER_MS),
    ...(aged && {
      'grpc.max_connection_age_ms': limits.maxConnectionAgeMs,
      'grpc.max_connection_age_grace_ms': Math.min(limits.maxConnectionAgeGraceMs, MAX_TIMER_MS),
    }),
  };
}

/**
 * Calls `expire` unless a request `arrived()` within `ms` of now. When the timer fires it first
 * yields to pending I/O (setImmediate runs after the poll phase): after the event loop was blocked
 * longer than `ms`, a request already received is read before the stream is judged silent.
 */
function firstRequestDeadline(ms: number, expire: () => void): { readonly timer: NodeJS.Timeout; arrived(): void } {
  let arrived = false;
  const timer = setTimeout(() => {
    setImmediate(() => {
      if (!arrived) expire();
    });
  }, Math.min(ms, MAX_TIMER_MS));
  return {
    timer,
    arrived() {
      if (arrived) return;
      arrived = true;
      clearTimeout(timer);
    },
  };
}

/** Tells the observer of a refused stream; an observer that throws is logged, not the stream's problem. */
function emitRefused(events: XdsServerEvents | undefined, event: RefusedEvent, log: Logger): void {
  try {
    events?.refused?.(event);
  } catch (err) {
    log.error({ err, event: 'refused' }, 'xDS event observer failed');
  }
}

/** Tells the observer of a stream ended at a per-stream limit; an observer that throws is logged, not the stream's problem. */
function emitOverLimit(events: XdsServerEvents | undefined, event: OverLimitEvent, log: Logger): void {
  try {
    events?.overLimit?.(event);
  } catch (err) {
    log.error({ err, event: 'overLimit' }, 'xDS event observer failed');
  }
}

/**
 * The refusal-log key of requests that do not decode, per method (one of keyway's, so the keys are
 * few): a client sending garbage in a loop is logged once per burst, with the peer and why, then counted.
 */
const undecodableKey = (path: string): string => `INVALID_ARGUMENT ${path}`;

/** The setting of each per-stream limit, the key its closes are logged under (once per burst). */
const OVER_LIMIT_SETTING: Readonly<Record<StreamLimitReason, string>> = {
  write_stall: XDS_LIMIT_ENV.writeStallMs,
  buffered_bytes: XDS_LIMIT_ENV.maxBufferedBytes,
  subscription_names: XDS_LIMIT_ENV.maxNamesPerSubscription,
  subscription_name_chars: XDS_LIMIT_ENV.maxNameCharsPerSubscription,
};

/** A unary handler that first refuses a request that did not decode (INVALID_ARGUMENT, logged with the peer once per burst). */
function refuseUndecodable<Req, Res>(
  refusals: RefusalLog,
  handler: (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void,
): (call: ServerUnaryCall<Req | UndecodableRequest, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    if (!(call.request instanceof UndecodableRequest)) return handler(call as ServerUnaryCall<Req, Res>, callback);
    refusals.refused(undecodableKey(call.getPath()), { rpc: call.getPath(), peer: call.getPeer() }, `request refused (INVALID_ARGUMENT): ${call.request.message}`);
    callback({ code: GrpcStatus.INVALID_ARGUMENT, details: call.request.message });
  };
}

/**
 * Resets the HTTP/2 stream under a grpc-js server call (RST_STREAM ENHANCE_YOUR_CALM), dropping the
 * bytes queued for it. grpc-js has no public call for this; its call keeps the HTTP/2 stream as
 * `call.call.stream` (1.14). When that shape changes the stream is left to the keepalive and
 * the failure is logged.
 */
function resetStream(call: unknown, log: Logger): void {
  const stream = (call as { call?: { stream?: { close?: (code: number) => void; destroyed?: boolean } } }).call?.stream;
  if (stream?.close && !stream.destroyed) stream.close(http2.NGHTTP2_ENHANCE_YOUR_CALM);
  else if (!stream) log.error('cannot reset an xDS stream over its limit: grpc-js internals changed');
}

/**
 * Lets go of the bytes grpc-js's message decoder (1.14) keeps after a message: slices of the chunks
 * it last read (`readCompressFlag`, `readPartialMessage`), until the stream's next message, which
 * may never come. They hold about a whole request per stream (a stock gRPC client's SotW request
 * names hundreds of clusters: ~45 KB), a reconnect storm's worth of memory. Only between messages
 * (`readState` 0), and only when the shape is the one known; otherwise left as it is.
 */
function releaseReadChunk(call: unknown): void {
  const decoder = (call as { call?: { decoder?: { readState?: unknown; readCompressFlag?: unknown; readPartialMessage?: unknown } } }).call?.decoder;
  if (decoder?.readState !== 0) return;
  const flag = decoder.readCompressFlag;
  if (Buffer.isBuffer(flag) && flag.buffer.byteLength > 1) decoder.readCompressFlag = Buffer.alloc(1);
  if (Array.isArray(decoder.readPartialMessage) && decoder.readPartialMessage.length > 0) decoder.readPartialMessage = [];
}

/**
 * Sends GOAWAY on the HTTP/2 connection under a grpc-js server call and closes it once its streams
 * end (as grpc-js does at the connection's age): its other streams go on, new ones need a new
 * connection. grpc-js has no public call for this; its call keeps the HTTP/2 stream as
 * `call.call.stream` (1.14). When that shape changes the connection is left open (the client keeps
 * retrying here until the connection ages out) and the failure is logged once.
 */
let warnedDrain = false;
function drainConnection(call: unknown, log: Logger): void {
  type Session = { goaway?: (code: number, lastStreamId: number) => void; close?: () => void; closed?: boolean; destroyed?: boolean };
  const session = (call as { call?: { stream?: { session?: Session } } }).call?.stream?.session;
  if (!session?.goaway || !session.close) {
    if (!warnedDrain) log.error('cannot close the connection of a refused xDS stream: grpc-js internals changed');
    warnedDrain = true;
    return;
  }
  if (session.closed || session.destroyed) return;
  try {
    // The highest stream id first, so streams the client sent meanwhile are still served, then close().
    session.goaway(http2.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
    session.close();
  } catch {
    // Closed meanwhile: nothing to drain.
  }
}

/**
 * `events`, also telling the warm-report sink when an ownership agent's stream opens: a move to
 * that node may be waiting for it (docs/ownership.md "Why wait for a stream").
 */
function withOwnershipStreams(events: XdsServerEvents | undefined, warm: WarmReportSink | undefined): XdsServerEvents | undefined {
  if (!warm?.ownershipStreamOpened) return events;
  return {
    ...events,
    opened: (e) => {
      events?.opened?.(e);
      if (e.flavor === 'agent') warm.ownershipStreamOpened?.(e.nodeId);
    },
  };
}
