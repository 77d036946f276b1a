/**
 * What the server knows about each connected proxy, per stream and per resource type: the
 * subscription, the version sent, the version acknowledged and the last NACK .
 * Read by `GET /v1/proxies` through the proxy-status reader (docs/architecture.md "The composition root").
 */
import type { Node } from '../proto.js';
import { classifyProxy, KIND_ORDER, proxyClassKey, type ProxyClass, type ResourceKind } from '../resources.js';
import type { EncodedResource } from '../cache/index.js';
import { KINDS_OF_FLAVOR, type ProxyLocality, type ProxyStatus, type StreamProtocol, type StreamService, type TypeStatus, type TypeSyncStatus } from '../../core/proxy.js';
import { compareStrings } from '../../core/order.js';

export type { NackRecord, ProxyStatus, StreamProtocol, StreamService, TypeStatus, TypeSyncStatus } from '../../core/proxy.js';

/** Identity of a proxy, from the `node` of its first request. */
export interface ProxyIdentity {
  readonly id: string;
  readonly cluster: string;
  readonly userAgent: string;
  readonly userAgentVersion: string;
  readonly locality: ProxyLocality;
  /** The proxy's own class, from its node. */
  readonly proxyClass: ProxyClass;
  /** The class it is served (SnapshotSource.servedClass); usually the same. */
  readonly servedClass: ProxyClass;
}

/** Per kind, the resources a proxy was last sent (what it holds from keyway), for config dumps. */
export type SentResources = Readonly<Record<ResourceKind, readonly EncodedResource[]>>;

/** Reads a proxy's identity from its xDS node (classifyProxy decides its flavor and class). */
export function identityOf(node: Node, servedClass: (c: ProxyClass) => ProxyClass = (c) => c): ProxyIdentity {
  const proxyClass = classifyProxy(node);
  const v = node.userAgentVersionType;
  let version = '';
  if (v.case === 'userAgentVersion') version = v.value;
  else if (v.case === 'userAgentBuildVersion' && v.value.version) {
    const s = v.value.version;
    version = `${s.majorNumber}.${s.minorNumber}.${s.patch}`;
  }
  return {
    id: node.id,
    cluster: node.cluster,
    userAgent: node.userAgentName,
    userAgentVersion: version,
    locality: { region: node.locality?.region ?? '', zone: node.locality?.zone ?? '', subzone: node.locality?.subZone ?? '' },
    proxyClass,
    servedClass: servedClass(proxyClass),
  };
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

/** Subscription and sync state of one resource type on one stream. */
export class TypeTracker {
  wildcard = false;
  readonly names = new Set<string>();
  /** Nonce of the latest response of this type; requests carrying another non-empty nonce are stale. */
  nonce: string | undefined;
  versionSent: string | undefined;
  sentAt: number | undefined;
  versionAcked: string | undefined;
  ackedAt: number | undefined;
  /** Nonce of the latest acknowledged response. */
  ackedNonce: string | undefined;
  lastNack: { version: string; message: string; at: number } | undefined;
  /** The latest response was rejected. */
  nacked = false;
  /** What the proxy holds from us, by name. */
  readonly sent = new Map<string, EncodedResource>();
  /** Delta: the version of each resource the proxy holds (from initial_resource_versions, then from what we sent). */
  readonly known = new Map<string, string>();
  /** SotW: signature (names and versions) of the latest response, to skip resending the same set. */
  sentSignature: string | undefined;
  /** SotW CDS/LDS: the first request named nothing (legacy wildcard), kept while requests stay empty. */
  legacyWildcard = false;
  /** Set once the first request of this type was handled on the stream. */
  initialized = false;

  constructor(readonly kind: ResourceKind) {}

  /** Is `nonce` stale: non-empty and not the latest one sent for this type? */
  isStale(nonce: string): boolean {
    return nonce !== '' && this.nonce !== undefined && nonce !== this.nonce;
  }

  recordSent(nonce: string, version: string, now: number): void {
    this.nonce = nonce;
    this.versionSent = version;
    this.sentAt = now;
    this.nacked = false;
  }

  recordAck(now: number): void {
    this.versionAcked = this.versionSent;
    this.ackedAt = now;
    this.ackedNonce = this.nonce;
    this.nacked = false;
  }

  recordNack(message: string, now: number): void {
    this.lastNack = { version: this.versionSent ?? '', message, at: now };
    this.nacked = true;
  }

  status(): TypeSyncStatus {
    if (this.nonce === undefined) return 'NOT_SENT';
    if (this.nacked) return 'NACKED';
    return this.ackedNonce === this.nonce ? 'SYNCED' : 'STALE';
  }

  view(streamId: string): TypeStatus {
    return {
      status: this.status(),
      subscribed: { wildcard: this.wildcard, names: [...this.names].sort() },
      ...(this.versionSent !== undefined && { versionSent: this.versionSent, sentAt: iso(this.sentAt) }),
      ...(this.versionAcked !== undefined && { versionAcked: this.versionAcked, ackedAt: iso(this.ackedAt) }),
      ...(this.nonce !== undefined && { nonce: this.nonce }),
      ...(this.lastNack && { lastNack: { ...this.lastNack, at: new Date(this.lastNack.at).toISOString() } }),
      resources: this.sent.size,
      streamId,
    };
  }
}

/** One open xDS stream, as the registry sees it. */
export interface StreamRecord {
  readonly id: string;
  readonly protocol: StreamProtocol;
  readonly service: StreamService;
  readonly startedAt: number;
  readonly identity: ProxyIdentity;
  readonly types: ReadonlyMap<ResourceKind, TypeTracker>;
}

const NOT_SENT: TypeStatus = Object.freeze({
  status: 'NOT_SENT',
  subscribed: Object.freeze({ wildcard: false, names: Object.freeze([]) }),
  resources: 0,
});

/**
 * Open streams by id, viewed per node id. A proxy may hold several streams (Envoy without ADS opens
 * one per type; a reconnect may overlap the old stream): they merge into one row, and for each type
 * the newest stream that subscribed to it is shown.
 */
export class ProxyRegistry {
  readonly #streams = new Map<string, StreamRecord>();

  add(stream: StreamRecord): void {
    this.#streams.set(stream.id, stream);
  }

  remove(streamId: string): void {
    this.#streams.delete(streamId);
  }

  /** Number of open streams. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** One row per node id, sorted by id. */
  proxies(): ProxyStatus[] {
    return [...this.#byNode()].sort(([a], [b]) => compareStrings(a, b)).map(([, streams]) => view(streams));
  }

  /** The row of one node id, or undefined when it has no open stream. */
  proxy(nodeId: string): ProxyStatus | undefined {
    const streams = this.#byNode().get(nodeId);
    return streams ? view(streams) : undefined;
  }

  /** Per kind, what the node holds from keyway (on the stream shown for that kind); undefined if not connected. */
  sentResources(nodeId: string): SentResources | undefined {
    const streams = this.#byNode().get(nodeId);
    if (!streams) return undefined;
    const out = {} as Record<ResourceKind, EncodedResource[]>;
    for (const kind of KIND_ORDER) {
      const shown = newestServing(streams, kind);
      out[kind] = shown ? [...shown.types.get(kind)!.sent.values()].sort((a, b) => compareStrings(a.name, b.name)) : [];
    }
    return out;
  }

  #byNode(): Map<string, StreamRecord[]> {
    const byNode = new Map<string, StreamRecord[]>();
    for (const s of this.#streams.values()) {
      const list = byNode.get(s.identity.id);
      if (list) list.push(s);
      else byNode.set(s.identity.id, [s]);
    }
    return byNode;
  }
}

function newestServing(streams: readonly StreamRecord[], kind: ResourceKind): StreamRecord | undefined {
  let best: StreamRecord | undefined;
  for (const s of streams) {
    if (!s.types.get(kind)?.initialized) continue;
    if (!best || s.startedAt >= best.startedAt) best = s;
  }
  return best;
}

function view(streams: readonly StreamRecord[]): ProxyStatus {
  const sorted = [...streams].sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1));
  const newest = sorted[sorted.length - 1]!;
  const identity = newest.identity;
  // Only the kinds the flavor is served: Envoy and gRPC rows keep their four, an agent shows `assignment`.
  const types: Partial<Record<ResourceKind, TypeStatus>> = {};
  for (const kind of KINDS_OF_FLAVOR[identity.proxyClass.flavor]) {
    const s = newestServing(sorted, kind);
    types[kind] = s ? s.types.get(kind)!.view(s.id) : NOT_SENT;
  }
  const protocols = new Set(sorted.map((s) => s.protocol));
  const services = new Set(sorted.map((s) => (s.service === 'ads' ? 'ads' : 'per-type')));
  return {
    id: identity.id,
    cluster: identity.cluster,
    userAgent: identity.userAgent,
    userAgentVersion: identity.userAgentVersion,
    flavor: identity.proxyClass.flavor,
    locality: identity.locality,
    proxyClass: proxyClassKey(identity.servedClass),
    connectedSince: new Date(sorted[0]!.startedAt).toISOString(),
    protocol: protocols.size === 1 ? [...protocols][0]! : 'mixed',
    service: services.size === 1 ? ([...services][0] as 'ads' | 'per-type') : 'mixed',
    streams: sorted.map((s) => ({ id: s.id, protocol: s.protocol, service: s.service, connectedSince: new Date(s.startedAt).toISOString() })),
    types,
  };
}
