/**
 * What state-of-the-world and delta streams share: the proxy's identity from its first `node`,
 * per-type trackers, per-stream nonces, and per-kind watches on the snapshot cache that live
 * exactly as long as the stream.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Node } from '../proto.js';
import { KIND_ORDER, kindOfTypeUrl, type ProxyClass, type ResourceKind } from '../resources.js';
import type { Snapshot, SnapshotSource } from '../cache/index.js';
import {
  identityOf,
  TypeTracker,
  type ProxyIdentity,
  type ProxyRegistry,
  type StreamProtocol,
  type StreamRecord,
  type StreamService,
} from './proxy-state.js';
import type { StreamLimitReason, XdsServerEvents } from './events.js';
import { holdsWholeConfig } from './config-closure.js';
import type { StreamOutput } from './outbox.js';
import { newNonce, type SharedResponse } from './wire.js';
import { OwnedMemo } from './owned-memo.js';
import { DEFAULT_XDS_STREAM_LIMITS, XDS_LIMIT_ENV, type XdsStreamLimits } from './stream-limits.js';
import { DEFAULT_SUBSCRIPTION_HOLD_OFF, HoldOffTimers, type SubscriptionHoldOff } from './hold-off.js';
import type { RefusalLog } from './refusal-log.js';
import type { StreamChurnLog } from './stream-churn-log.js';
import type { RouteSubscriptions } from './route-subscriptions.js';

/**
 * Kinds for which an empty first subscription means every resource (xDS protocol: LDS and CDS
 * wildcards; an ownership agent's first empty request for its assignments, docs/ownership.md).
 */
export const WILDCARD_KINDS: ReadonlySet<ResourceKind> = new Set(['cluster', 'listener', 'assignment']);

/** Who is at the other end of a stream: its address and, under mTLS, its verified client certificate. */
export interface StreamPeer {
  /** `host:port` as grpc-js reports it (`call.getPeer()`). */
  readonly address: string;
  /** The verified client certificate's identities (SAN URIs and DNS names, then the subject CN); absent without mTLS. */
  readonly identities?: readonly string[];
}

/** What every session needs from the server. */
export interface SessionContext {
  readonly cache: SnapshotSource;
  readonly registry: ProxyRegistry;
  readonly logger: Logger;
  /** ControlPlane.identifier written in every response. */
  readonly controlPlane?: string;
  /** Observer of pushes and answers (metrics, change traces). */
  readonly events?: XdsServerEvents;
  /**
   * Decides whether `peer` may speak for node `nodeId` (docs/security.md); called once per stream,
   * on its first request. Throws a ProtocolError to end the stream. Absent: every peer is admitted.
   */
  readonly admit?: (nodeId: string, peer: StreamPeer) => void;
  /** Limits on one stream's subscriptions (docs/security.md "xDS streams"); default DEFAULT_XDS_STREAM_LIMITS. */
  readonly limits?: Partial<Pick<XdsStreamLimits, 'maxNamesPerSubscription' | 'maxNameCharsPerSubscription' | 'maxStreamsPerNode' | 'maxNodeIdLength'>>;
  /** How long a burst of subscription changes waits to be answered once (hold-off.ts); default DEFAULT_SUBSCRIPTION_HOLD_OFF. */
  readonly holdOff?: SubscriptionHoldOff;
  /** What the server's streams share (one pair per server); default a pair shared by contexts without one. */
  readonly memos?: SharedMemos;
  /**
   * Where streams opened and closed are counted for one info line a minute (stream-churn-log.ts);
   * absent: each stream's own lines are at info level.
   */
  readonly churn?: StreamChurnLog;
  /**
   * The NACK log, one burst per kind and version sent (refusal-log.ts): a fleet rejecting one
   * version, or a client NACKing in a reconnect loop, logs one line, not one per proxy and stream.
   * Absent: each NACK is logged.
   */
  readonly nacks?: RefusalLog;
  /** The route configuration names streams subscribe to over RDS, counted across streams (route-subscriptions.ts); absent: not counted. */
  readonly routes?: RouteSubscriptions;
}

/**
 * What streams asking the same share, per kind snapshot: the responses (wire.ts), the SotW
 * subscription selections (sotw-session.ts) and what delta streams subscribed by name hold
 * (delta-session.ts). Bounded, `maxSharedBytes` each (owned-memo.ts).
 */
export interface SharedMemos {
  readonly responses: OwnedMemo<SharedResponse>;
  readonly selections: OwnedMemo<unknown>;
}

/**
 * The memos one xDS server's streams share (SotW and delta, every session of the server), each
 * bounded by `maxBytes` (`maxSharedBytes`, KEYWAY_XDS_MAX_SHARED_BYTES, docs/security.md).
 */
export function sharedMemos(maxBytes: number): SharedMemos {
  return { responses: new OwnedMemo(maxBytes), selections: new OwnedMemo(maxBytes) };
}

let defaultMemos: SharedMemos | undefined;

/** A request the protocol forbids; the stream ends with `code`. */
export class ProtocolError extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
    /**
     * The setting (XDS_LIMIT_ENV) of a cap that refuses a stream before it is served: a client can
     * hit it in a loop, so the server logs such refusals once per burst (refusal-log.ts).
     */
    readonly refusedAt?: string,
    /** The per-stream limit that ends a stream already admitted (counted as such, never as a refusal). */
    readonly overLimit?: StreamLimitReason,
  ) {
    super(message);
  }
}

/** The error that ends a stream over a limit (docs/security.md "xDS streams"): RESOURCE_EXHAUSTED, led by LIMIT_EXCEEDED. */
export function limitExceeded(message: string, refusedAt?: string): ProtocolError {
  return new ProtocolError(GrpcStatus.RESOURCE_EXHAUSTED, `LIMIT_EXCEEDED: ${message}`, refusedAt);
}

/** limitExceeded for a stream already admitted that went over a per-stream limit. */
function streamOverLimit(message: string, reason: StreamLimitReason): ProtocolError {
  return new ProtocolError(GrpcStatus.RESOURCE_EXHAUSTED, `LIMIT_EXCEEDED: ${message}`, undefined, reason);
}

/** Characters of a client's id quoted in a refusal: enough to tell which client it was. */
const QUOTED_ID_CHARS = 64;

/**
 * The refusal of a node id past `max` characters (docs/security.md "xDS streams"), undefined within
 * it. Checked before the id is admitted, logged or registered; the message quotes only its start.
 */
export function nodeIdTooLong(nodeId: string, max: number): ProtocolError | undefined {
  if (nodeId.length <= max) return undefined;
  const setting = XDS_LIMIT_ENV.maxNodeIdLength;
  return limitExceeded(`node id ${JSON.stringify(`${nodeId.slice(0, QUOTED_ID_CHARS)}…`)} has ${nodeId.length} characters (the limit is ${max}, ${setting})`, setting);
}

/** Characters of a NACK's text kept (docs/security.md "xDS streams"): it is logged, listed and quoted like the id. */
export const MAX_NACK_CHARS = 4096;

/** A proxy's NACK text, cut to MAX_NACK_CHARS with a note of how long it was. */
export function nackText(message: string): string {
  return message.length <= MAX_NACK_CHARS ? message : `${message.slice(0, MAX_NACK_CHARS)}… (${message.length} characters, cut)`;
}

/**
 * The session logic every xDS stream shares, SotW or delta, ADS or per-type (docs/xds-protocol.md
 * "Services", "Streams and cleanup"), so both protocols report one state to `/v1/proxies`.
 */
export abstract class Session implements StreamRecord {
  readonly startedAt = Date.now();
  readonly startedMono = performance.now();
  readonly types = new Map<ResourceKind, TypeTracker>();
  #identity: ProxyIdentity | undefined;
  readonly #unwatch = new Map<ResourceKind, () => void>();
  /** Kinds whose push waits until the proxy has read what it was given (backpressure). */
  readonly #waiting = new Set<ResourceKind>();
  /** Kinds whose subscription changed in the last moments: their answer waits for the burst to end. */
  readonly #holdOff: HoldOffTimers<ResourceKind>;
  /** When the latest response of each kind was written, on the monotonic clock (push durations). */
  readonly #sentMono = new Map<ResourceKind, number>();
  #closed = false;

  constructor(
    protected readonly ctx: SessionContext,
    readonly id: string,
    readonly protocol: StreamProtocol,
    readonly service: StreamService,
    private readonly out: StreamOutput,
    readonly peer: StreamPeer = { address: '' },
  ) {
    this.#holdOff = new HoldOffTimers(ctx.holdOff ?? DEFAULT_SUBSCRIPTION_HOLD_OFF, () => this.#flush());
  }

  /**
   * The stream's logger, made when a line is logged and not kept: a stream logs a few lines in its
   * life (open, close, NACKs), and thousands of streams need not hold a logger each.
   */
  protected get log(): Logger {
    // The node once known, so each of its lines (a NACK, the close) says which proxy it is about.
    const node = this.#identity?.id;
    return this.ctx.logger.child({ stream: this.id, protocol: this.protocol, service: this.service, ...(node !== undefined ? { node } : {}) });
  }

  /** Is debug logging on? Checked before building a per-response log record. */
  protected get debug(): boolean {
    return this.ctx.logger.isLevelEnabled('debug');
  }

  get identity(): ProxyIdentity {
    if (!this.#identity) throw new Error(`stream ${this.id} has no node yet`);
    return this.#identity;
  }

  /** Ends the session: drops its watches and its registry entry. Idempotent. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of this.#unwatch.values()) stop();
    this.#unwatch.clear();
    this.#waiting.clear();
    this.#holdOff.clear();
    // Its RDS names no longer count: the last stream to hold a former route name starts its grace.
    const routes = this.types.get('route');
    if (routes && this.ctx.routes) for (const name of routes.names) this.ctx.routes.remove(name);
    if (this.#identity) this.ctx.registry.remove(this);
    if (this.#identity) {
      this.ctx.churn?.closed();
      this.log[this.ctx.churn ? 'debug' : 'info']({ reason }, 'xDS stream closed');
      this.#emit('closed', { nodeId: this.#identity.id, streamId: this.id });
    }
  }

  servedClassNow(): ProxyClass {
    const cache = this.ctx.cache;
    return cache.servedClass ? cache.servedClass(this.identity.proxyClass) : this.identity.servedClass;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Takes the proxy's identity from the first request's node (xDS: the first request must carry it). */
  protected begin(node: Node | undefined): void {
    if (this.#identity) return;
    if (!node || node.id === '') {
      throw new ProtocolError(GrpcStatus.INVALID_ARGUMENT, 'the first request of an xDS stream must carry node.id');
    }
    const tooLong = nodeIdTooLong(node.id, this.ctx.limits?.maxNodeIdLength ?? DEFAULT_XDS_STREAM_LIMITS.maxNodeIdLength);
    if (tooLong) throw tooLong;
    this.ctx.admit?.(node.id, this.peer);
    const cache = this.ctx.cache;
    const identity = identityOf(node, cache.servedClass ? (c) => cache.servedClass!(c) : undefined);
    const maxStreams = this.ctx.limits?.maxStreamsPerNode ?? DEFAULT_XDS_STREAM_LIMITS.maxStreamsPerNode;
    const open = this.ctx.registry.streamsOf(node.id);
    if (open >= maxStreams) {
      const setting = XDS_LIMIT_ENV.maxStreamsPerNode;
      throw limitExceeded(`node ${JSON.stringify(node.id)} already holds ${open} xDS streams (the limit is ${maxStreams}, ${setting})`, setting);
    }
    this.#identity = identity;
    const conflict = this.ctx.registry.add(this);
    if (conflict) {
      this.log.warn(
        // `node` is on every line of the stream's logger already.
        { peer: this.peer.address, otherPeers: conflict },
        'node id reuse: streams of one node id come from different peers (an impersonation, or two proxies configured alike)',
      );
    }
    this.ctx.churn?.opened(identity.proxyClass.flavor);
    this.log[this.ctx.churn ? 'debug' : 'info'](
      { userAgent: this.#identity.userAgent, flavor: this.#identity.proxyClass.flavor },
      'xDS stream opened',
    );
    this.#emit('opened', { nodeId: node.id, streamId: this.id, flavor: identity.proxyClass.flavor });
  }

  /**
   * Starts handling one request of either protocol: takes the node identity, then finds the
   * tracker of the kind the request is about; undefined (logged) for a type keyway does not serve.
   */
  protected trackerFor(req: { node?: Node | undefined; typeUrl: string }): TypeTracker | undefined {
    this.begin(req.node);
    const kind = this.kindOf(req.typeUrl);
    if (!kind) {
      this.log.debug({ typeUrl: req.typeUrl }, 'request for a type keyway does not serve; ignored');
      return undefined;
    }
    return this.tracker(kind);
  }

  /** The kind a request is about: implied by a per-type service, else from its type URL. */
  protected kindOf(typeUrl: string): ResourceKind | undefined {
    return this.service === 'ads' ? kindOfTypeUrl(typeUrl) : this.service;
  }

  /** The tracker of `kind`, created with its cache watch on first use. */
  protected tracker(kind: ResourceKind): TypeTracker {
    let t = this.types.get(kind);
    if (!t) {
      t = new TypeTracker(kind);
      this.types.set(kind, t);
      this.#unwatch.set(
        kind,
        this.ctx.cache.watch(this.identity.proxyClass, kind, () => {
          if (!this.#closed) this.onKindChanged(kind);
        }),
      );
    }
    return t;
  }

  protected snapshot(): Snapshot | undefined {
    return this.ctx.cache.snapshot(this.identity.proxyClass);
  }

  /** What streams share (the server's memos). */
  protected get memos(): SharedMemos {
    return this.ctx.memos ?? (defaultMemos ??= sharedMemos(DEFAULT_XDS_STREAM_LIMITS.maxSharedBytes));
  }

  /** Nonces come from one sequence for every stream (wire.ts newNonce); a type's latest nonce is in its tracker. */
  protected nextNonce(): string {
    return newNonce();
  }

  /** Writes one response: encoded for this stream, or shared with the streams that get the same. */
  protected send(response: Uint8Array | SharedResponse): void {
    if (!this.#closed) this.out.write(response);
  }

  /**
   * The subscription of `kind` changed: its answer waits until the burst of changes ends
   * (hold-off.ts), so a client subscribing one name per request gets one answer, not one per name.
   */
  protected subscriptionChanged(kind: ResourceKind): void {
    this.#holdOff.touch(kind);
  }

  /**
   * True (and `kind` marked to be resumed) while the push must wait: backpressure (the proxy has
   * not read what it was given), or a subscription hold-off of `kind` or of a kind sent before it
   * (make-before-break order). The push is not built now; `resume(kind)` builds the latest state
   * when the wait ends, so a superseded response is never built nor buffered.
   */
  protected holdBack(kind: ResourceKind): boolean {
    if (this.out.writable && !this.#heldOff(kind)) return false;
    this.#waiting.add(kind);
    return true;
  }

  /** Is a hold-off running for `kind` or a kind sent before it? */
  #heldOff(kind: ResourceKind): boolean {
    if (this.#holdOff.size === 0) return false;
    for (const k of KIND_ORDER) {
      if (this.#holdOff.has(k)) return true;
      if (k === kind) return false;
    }
    return false;
  }

  /** The proxy read its backlog: builds the waiting kinds in send order (make-before-break). */
  onWritable(): void {
    this.#flush();
  }

  /** Builds the waiting kinds that may go now, in send order. */
  #flush(): void {
    if (this.#closed || this.#waiting.size === 0) return;
    for (const kind of KIND_ORDER) {
      if (!this.#waiting.has(kind)) continue;
      // A kind held off holds back every kind after it too.
      if (!this.out.writable || this.#heldOff(kind)) return;
      this.#waiting.delete(kind);
      this.resume(kind);
    }
  }

  /** Ends the stream when a subscription of `kind` would exceed the names cap or the cap on their characters. */
  protected checkNames(kind: ResourceKind, count: number, chars = 0): void {
    const max = this.ctx.limits?.maxNamesPerSubscription ?? DEFAULT_XDS_STREAM_LIMITS.maxNamesPerSubscription;
    // keyway/agent tells this refusal from the stream caps' by its text (src/agent/server-link.ts): keep "subscription of N names exceeds the limit".
    if (count > max) throw streamOverLimit(`the ${kind} subscription of ${count} names exceeds the limit of ${max} names per type and stream`, 'subscription_names');
    const maxChars = this.ctx.limits?.maxNameCharsPerSubscription ?? DEFAULT_XDS_STREAM_LIMITS.maxNameCharsPerSubscription;
    if (chars > maxChars) {
      throw streamOverLimit(`the ${kind} subscription's names have ${chars} characters in all, over the limit of ${maxChars} per type and stream`, 'subscription_name_chars');
    }
  }

  /**
   * Tells the observer which of the route configurations `names` (an RDS subscription just changed)
   * the class's current snapshot does not hold (UnservedRoutesEvent); nothing without an observer
   * or a snapshot. O(names): called on a subscription change only.
   */
  protected reportUnservedRoutes(names: Iterable<string>): void {
    if (!this.ctx.events?.unservedRoutes) return;
    const routes = this.snapshot()?.kinds.route.resources;
    if (!routes) return;
    const missing: string[] = [];
    for (const name of names) if (!routes.has(name)) missing.push(name);
    if (missing.length > 0) this.#emit('unservedRoutes', { nodeId: this.identity.id, streamId: this.id, proxyClass: this.identity.proxyClass, names: missing });
  }

  /** The stream now subscribes to route configuration `name` (RouteSubscriptions); nothing once closed, as its names were let go. */
  protected routeAdded(name: string): void {
    if (!this.#closed) this.ctx.routes?.add(name);
  }

  /** The stream no longer subscribes to route configuration `name` (RouteSubscriptions). */
  protected routeRemoved(name: string): void {
    if (!this.#closed) this.ctx.routes?.remove(name);
  }

  /** Records a response written (tracker and observer). */
  protected recordSent(kind: ResourceKind, t: TypeTracker, nonce: string, version: string, resources: number): void {
    const at = Date.now();
    t.recordSent(nonce, version, at);
    this.#sentMono.set(kind, performance.now());
    this.#emit('sent', { nodeId: this.identity.id, streamId: this.id, kind, version, nonce, resources, at });
  }

  /** Records the ACK of the latest response of `kind` (tracker and observer). */
  protected recordAck(kind: ResourceKind, t: TypeTracker, at: number): void {
    t.recordAck(at);
    const complete = this.identity.proxyClass.flavor === 'grpc' && this.ctx.events?.acked ? { complete: holdsWholeConfig(this.types) } : {};
    this.#emit('acked', { nodeId: this.identity.id, streamId: this.id, kind, version: t.versionSent ?? '', sentAt: this.#sentAt(kind, at), at, ...complete });
  }

  /** Records the NACK of the latest response of `kind` (tracker and observer); returns its text as kept (cut). */
  protected recordNack(kind: ResourceKind, t: TypeTracker, text: string, at: number): string {
    const message = nackText(text);
    t.recordNack(message, at);
    this.#emit('nacked', { nodeId: this.identity.id, streamId: this.id, kind, version: t.versionSent ?? '', sentAt: this.#sentAt(kind, at), at, message });
    return message;
  }

  /**
   * Logs a NACK: at once without a NACK log, else once per burst of NACKs of the same kind and
   * version (the rest are counted; GET /v1/proxies and /readyz name every proxy that NACKs).
   */
  protected logNack(kind: ResourceKind, t: TypeTracker, error: string, message: string): void {
    const fields = { kind, version: t.versionSent, nonce: t.nonce, error };
    if (!this.ctx.nacks) {
      this.log.warn(fields, message);
      return;
    }
    this.ctx.nacks.refused(`${kind} ${t.versionSent ?? ''}`, { ...fields, stream: this.id, node: this.identity.id, protocol: this.protocol, service: this.service }, message);
  }

  /**
   * When the response of `kind` an answer at `at` (epoch ms) is about was written: `at` less the
   * time since on the monotonic clock, so `at - sentAt` (the push duration) stays right across a
   * wall-clock step between the two, which made it negative or as long as the step.
   */
  #sentAt(kind: ResourceKind, at: number): number {
    const sent = this.#sentMono.get(kind);
    return sent === undefined ? at : at - Math.max(0, performance.now() - sent);
  }

  #emit<K extends keyof XdsServerEvents>(name: K, event: Parameters<NonNullable<XdsServerEvents[K]>>[0]): void {
    const handler = this.ctx.events?.[name] as ((e: typeof event) => void) | undefined;
    if (!handler) return;
    try {
      handler.call(this.ctx.events, event);
    } catch (err) {
      this.log.error({ err, event: name }, 'xDS event observer failed');
    }
  }

  /** The cache says `kind`'s version changed for this proxy's class. */
  protected abstract onKindChanged(kind: ResourceKind): void;

  /** Builds and sends the push of `kind` that waited for the proxy to read its backlog. */
  protected abstract resume(kind: ResourceKind): void;
}
