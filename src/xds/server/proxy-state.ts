/**
 * What the server knows about each connected proxy, per stream and per resource type: the
 * subscription, the version sent, the version acknowledged and the last NACK .
 * Read by `GET /v1/proxies` through the proxy-status reader (docs/architecture.md "The composition root").
 */
import type { Node } from '../proto.js';
import { classifyProxy, KIND_ORDER, proxyClassKey, type ProxyClass, type ResourceKind } from '../resources.js';
import type { EncodedResource } from '../cache/index.js';
import { DEFAULT_NAMES_SHOWN, KINDS_OF_FLAVOR, type NackingProxy, type ProxyFlavor, type ProxySyncSummary, type ProxyLocality, type ProxyStatus, type StreamProtocol, type StreamService, type TypeStatus, type TypeSyncStatus } from '../../core/proxy.js';
import { compareStrings } from '../../core/order.js';

export type { NackRecord, ProxyStatus, ProxySyncSummary, StreamProtocol, StreamService, TypeStatus, TypeSyncStatus } from '../../core/proxy.js';

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

/** What a node holds of one kind, on the stream its row shows for the kind: sync status and resources by name (not copied). */
export interface HeldKind {
  readonly status: TypeSyncStatus;
  readonly sent: ReadonlyMap<string, EncodedResource>;
}

/**
 * Characters kept of a node's descriptive fields (cluster, user agent and version, locality): the
 * client chooses them, and they are logged and listed in `/v1/proxies` (docs/security.md "xDS
 * streams"). The class is decided on the whole node first.
 */
export const MAX_NODE_FIELD_CHARS = 256;

const field = (s: string): string => (s.length <= MAX_NODE_FIELD_CHARS ? s : `${s.slice(0, MAX_NODE_FIELD_CHARS)}…`);

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
    cluster: field(node.cluster),
    userAgent: field(node.userAgentName),
    userAgentVersion: field(version),
    locality: { region: field(node.locality?.region ?? ''), zone: field(node.locality?.zone ?? ''), subzone: field(node.locality?.subZone ?? '') },
    proxyClass,
    servedClass: servedClass(proxyClass),
  };
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

/** Subscription and sync state of one resource type on one stream. */
export class TypeTracker {
  wildcard = false;
  readonly names = new Set<string>();
  /** Delta: the characters of `names` in all (capped like their count, docs/security.md "xDS streams"). */
  nameChars = 0;
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
  /**
   * What the proxy holds from us, by name. A SotW stream answered with a shared selection, and a
   * delta stream after each push, refers to a shared map (the selection's, the delta subscription's,
   * or for a wildcard the kind snapshot's own; no per-stream copy); `sentForUpdate()` makes it the
   * stream's own first.
   */
  #sent: Map<string, EncodedResource> = new Map();
  #sentShared = false;
  /** SotW: the sorted subscribed names joined, the key of the shared selection (undefined while stale). */
  namesKey: string | undefined;
  /** SotW: signature (names and versions) of the latest response, to skip resending the same set. */
  sentSignature: string | undefined;
  /** SotW CDS/LDS: the first request named nothing (legacy wildcard), kept while requests stay empty. */
  legacyWildcard = false;
  /** Set once the first request of this type was handled on the stream. */
  initialized = false;
  /**
   * Delta: the proxy resumed holding exactly what keyway would send (initial_resource_versions),
   * so nothing was sent and it is in sync: the row says SYNCED, not NOT_SENT.
   */
  resumedInSync = false;

  constructor(readonly kind: ResourceKind) {}

  /** What the proxy holds from us, by name (read only; see sentForUpdate). */
  get sent(): ReadonlyMap<string, EncodedResource> {
    return this.#sent;
  }

  /** The proxy now holds exactly `shared` (a map shared with other streams; never changed in place). */
  holdShared(shared: ReadonlyMap<string, EncodedResource>): void {
    this.#sent = shared as Map<string, EncodedResource>;
    this.#sentShared = true;
  }

  /** This stream's own map of what the proxy holds, to change in place (copied once from a shared one). */
  sentForUpdate(): Map<string, EncodedResource> {
    if (this.#sentShared) {
      this.#sent = new Map(this.#sent);
      this.#sentShared = false;
    }
    return this.#sent;
  }

  /** The latest response was ACKed or NACKed already (its first answer is the one recorded). */
  get answered(): boolean {
    return this.nacked || (this.nonce !== undefined && this.ackedNonce === this.nonce);
  }

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

  /** Delta: the proxy's first request showed it holds `version` already; nothing needed sending. */
  recordResumed(version: string, now: number): void {
    this.resumedInSync = true;
    this.versionAcked = version;
    this.ackedAt = now;
  }

  status(): TypeSyncStatus {
    if (this.nonce === undefined) return this.resumedInSync ? 'SYNCED' : 'NOT_SENT';
    if (this.nacked) return 'NACKED';
    return this.ackedNonce === this.nonce ? 'SYNCED' : 'STALE';
  }

  /**
   * The row of this type; at most `namesShown` subscribed names are listed (the first subscribed),
   * each cut to MAX_NODE_FIELD_CHARS; `count` gives them all.
   */
  view(streamId: string, namesShown: number = DEFAULT_NAMES_SHOWN): TypeStatus {
    const names: string[] = [];
    if (namesShown > 0) {
      for (const n of this.names) {
        // Cut like the node's fields: a name is the client's text (up to the characters cap above).
        names.push(field(n));
        if (names.length >= namesShown) break;
      }
    }
    return {
      status: this.status(),
      subscribed: { wildcard: this.wildcard, names: names.sort(compareStrings), count: this.names.size },
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
  /**
   * When it started on the monotonic clock (performance.now): the order a node's streams are
   * shown in, so a wall clock stepped back between two starts does not show the older stream.
   * Absent in fixtures, which are ordered by startedAt.
   */
  readonly startedMono?: number;
  readonly identity: ProxyIdentity;
  readonly types: ReadonlyMap<ResourceKind, TypeTracker>;
  /** Who opened it (absent in fixtures). */
  readonly peer?: { readonly address: string };
  /** The class it is served now (it follows the topology); default `identity.servedClass`. */
  servedClassNow?(): ProxyClass;
}

/** The host of a grpc-js peer (`${remoteAddress}:${remotePort}`): streams from one machine share it. */
function peerHost(address: string): string {
  const i = address.lastIndexOf(':');
  return i > 0 && /^\d+$/.test(address.slice(i + 1)) ? address.slice(0, i) : address;
}

const NOT_SENT: TypeStatus = Object.freeze({
  status: 'NOT_SENT',
  subscribed: Object.freeze({ wildcard: false, names: Object.freeze([]), count: 0 }),
  resources: 0,
});

/** How a row is shown: subscribed names listed per type. */
export interface ProxyViewOptions {
  readonly namesShown?: number;
}

/**
 * Open streams, indexed by node id as they come and go (opening or closing one costs O(1), however
 * many are open). A proxy may hold several streams (Envoy without ADS opens one per type; a
 * reconnect may overlap the old stream): they merge into one row, and for each type the newest
 * stream that subscribed to it is shown. Streams of one node id from different peer hosts are a
 * conflict (node id reuse), flagged on the row.
 */
export class ProxyRegistry {
  readonly #byNode = new Map<string, Set<StreamRecord>>();
  #count = 0;

  /**
   * Adds an open stream. Returns the other peer hosts already holding streams of its node id when
   * there are any (node id reuse, for the caller to log); else undefined.
   */
  add(stream: StreamRecord): string[] | undefined {
    const nodeId = stream.identity.id;
    let set = this.#byNode.get(nodeId);
    if (!set) this.#byNode.set(nodeId, (set = new Set()));
    if (set.has(stream)) return undefined;
    set.add(stream);
    this.#count++;
    if (set.size === 1 || stream.peer === undefined) return undefined;
    const host = peerHost(stream.peer.address);
    const others = new Set<string>();
    for (const s of set) if (s.peer && peerHost(s.peer.address) !== host) others.add(peerHost(s.peer.address));
    return others.size > 0 ? [...others].sort(compareStrings) : undefined;
  }

  /** Removes a stream (idempotent); O(1). */
  remove(stream: StreamRecord): void {
    const set = this.#byNode.get(stream.identity.id);
    if (!set?.delete(stream)) return;
    this.#count--;
    if (set.size === 0) this.#byNode.delete(stream.identity.id);
  }

  /** Number of open streams. */
  get streamCount(): number {
    return this.#count;
  }

  /** Open streams of one node id. */
  streamsOf(nodeId: string): number {
    return this.#byNode.get(nodeId)?.size ?? 0;
  }

  /** One row per node id, sorted by id. */
  proxies(opts: ProxyViewOptions = {}): ProxyStatus[] {
    return [...this.#byNode.keys()].sort(compareStrings).map((id) => view([...this.#byNode.get(id)!], opts));
  }

  /** Ids of the nodes whose newest stream is of `flavor`: O(streams), no rows built. */
  nodeIds(flavor: ProxyFlavor): Set<string> {
    const out = new Set<string>();
    for (const [id, streams] of this.#byNode) if (newestStream(streams).identity.proxyClass.flavor === flavor) out.add(id);
    return out;
  }

  /**
   * The nodes whose row shows a NACKED type, sorted by id, with only those types (as their rows show
   * them): O(streams) and nothing built for a node in sync, where rows for thousands of proxies
   * take about 100 ms and `/readyz` asks on every probe.
   */
  nacking(): NackingProxy[] {
    const out: NackingProxy[] = [];
    for (const [id, set] of this.#byNode) {
      // Sorted as view() sorts them, so ties pick alike; one stream (the usual case) is not copied.
      const streams: Iterable<StreamRecord> = set.size === 1 ? set : [...set].sort(byStart);
      const flavor = newestStream(streams).identity.proxyClass.flavor;
      let types: Partial<Record<ResourceKind, Pick<TypeStatus, 'status' | 'lastNack'>>> | undefined;
      for (const kind of KINDS_OF_FLAVOR[flavor]) {
        const t = newestServing(streams, kind)?.types.get(kind);
        if (!t || t.status() !== 'NACKED') continue;
        const nack = t.lastNack;
        (types ??= {})[kind] = { status: 'NACKED', ...(nack && { lastNack: { version: nack.version, message: nack.message, at: new Date(nack.at).toISOString() } }) };
      }
      if (types) out.push({ id, types });
    }
    return out.sort((a, b) => compareStrings(a.id, b.id));
  }

  /**
   * Per node, its flavor and per kind the sync status its row shows, in no set order: O(streams),
   * and per node one small object (the per-kind entries are shared constants). The proxy gauges
   * read it on every `/metrics` render, where rows for 5000 proxies took 70 to 127 ms.
   */
  statuses(): ProxySyncSummary[] {
    const out: ProxySyncSummary[] = [];
    for (const [id, streams] of this.#byNode) {
      const flavor = newestStream(streams).identity.proxyClass.flavor;
      const types: Partial<Record<ResourceKind, { readonly status: TypeSyncStatus }>> = {};
      for (const kind of KINDS_OF_FLAVOR[flavor]) types[kind] = STATUS_OF[shownTracker(streams, kind)?.status() ?? 'NOT_SENT'];
      out.push({ id, flavor, types });
    }
    return out;
  }

  /** The row of one node id, or undefined when it has no open stream. */
  proxy(nodeId: string, opts: ProxyViewOptions = {}): ProxyStatus | undefined {
    const streams = this.#byNode.get(nodeId);
    return streams ? view([...streams], opts) : undefined;
  }

  /**
   * For each node whose row names served class `classKey`, what it holds per kind (as its row
   * shows it), with no row built and nothing copied or sorted: a make-before-break phase asks this
   * on every ACK, and rows for every proxy, or a sorted copy of what each holds, cost seconds there
   * with a thousand clients of a thousand clusters.
   */
  *heldByClass(classKey: string): Generator<(kind: ResourceKind) => HeldKind | undefined> {
    for (const set of this.#byNode.values()) {
      const streams = [...set];
      const newest = newestStream(streams);
      if (proxyClassKey(newest.servedClassNow?.() ?? newest.identity.servedClass) !== classKey) continue;
      yield (kind) => {
        const t = newestServing(streams, kind)?.types.get(kind);
        return t ? { status: t.status(), sent: t.sent } : undefined;
      };
    }
  }

  /** Per kind, what the node holds from keyway (on the stream shown for that kind); undefined if not connected. */
  sentResources(nodeId: string): SentResources | undefined {
    const set = this.#byNode.get(nodeId);
    if (!set) return undefined;
    const streams = [...set];
    const out = {} as Record<ResourceKind, EncodedResource[]>;
    for (const kind of KIND_ORDER) {
      const shown = newestServing(streams, kind);
      out[kind] = shown ? [...shown.types.get(kind)!.sent.values()].sort((a, b) => compareStrings(a.name, b.name)) : [];
    }
    return out;
  }
}

function newestServing(streams: Iterable<StreamRecord>, kind: ResourceKind): StreamRecord | undefined {
  let best: StreamRecord | undefined;
  for (const s of streams) {
    if (!s.types.get(kind)?.initialized) continue;
    if (!best || byStart(s, best) >= 0) best = s;
  }
  return best;
}

/**
 * The tracker of `kind` a row shows: that of the last stream, in byStart order, that initialized
 * the kind (what newestServing picks from the sorted streams), found without sorting or copying.
 */
function shownTracker(streams: Iterable<StreamRecord>, kind: ResourceKind): TypeTracker | undefined {
  let best: StreamRecord | undefined;
  let tracker: TypeTracker | undefined;
  for (const s of streams) {
    const t = s.types.get(kind);
    if (!t?.initialized) continue;
    // On equal (start, id) the later one wins, as in the stable sort view() reads.
    if (best && byStart(s, best) < 0) continue;
    best = s;
    tracker = t;
  }
  return tracker;
}

/** One frozen entry per status, shared by every node's statuses() row. */
const STATUS_OF: Readonly<Record<TypeSyncStatus, { readonly status: TypeSyncStatus }>> = {
  SYNCED: Object.freeze({ status: 'SYNCED' }),
  STALE: Object.freeze({ status: 'STALE' }),
  NACKED: Object.freeze({ status: 'NACKED' }),
  NOT_SENT: Object.freeze({ status: 'NOT_SENT' }),
};

/** Streams by start (monotonic when both have it), ties by id: a row shows its node's last one in this order. */
function byStart(a: StreamRecord, b: StreamRecord): number {
  const started = a.startedMono !== undefined && b.startedMono !== undefined ? a.startedMono - b.startedMono : a.startedAt - b.startedAt;
  return started || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The stream a node's row shows (the last by start, ties by id), of a node's non-empty set. */
function newestStream(streams: Iterable<StreamRecord>): StreamRecord {
  let newest: StreamRecord | undefined;
  for (const s of streams) if (!newest || byStart(s, newest) > 0) newest = s;
  return newest!;
}

function view(streams: readonly StreamRecord[], opts: ProxyViewOptions): ProxyStatus {
  const sorted = [...streams].sort(byStart);
  const newest = sorted[sorted.length - 1]!;
  const identity = newest.identity;
  // Only the kinds the flavor is served: Envoy and gRPC rows keep their four, an agent shows `assignment`.
  const types: Partial<Record<ResourceKind, TypeStatus>> = {};
  for (const kind of KINDS_OF_FLAVOR[identity.proxyClass.flavor]) {
    const s = newestServing(sorted, kind);
    types[kind] = s ? s.types.get(kind)!.view(s.id, opts.namesShown) : NOT_SENT;
  }
  const protocols = new Set(sorted.map((s) => s.protocol));
  const services = new Set(sorted.map((s) => (s.service === 'ads' ? 'ads' : 'per-type')));
  const hosts = new Set(sorted.flatMap((s) => (s.peer ? [peerHost(s.peer.address)] : [])));
  return {
    id: identity.id,
    cluster: identity.cluster,
    userAgent: identity.userAgent,
    userAgentVersion: identity.userAgentVersion,
    flavor: identity.proxyClass.flavor,
    locality: identity.locality,
    proxyClass: proxyClassKey(newest.servedClassNow?.() ?? identity.servedClass),
    connectedSince: new Date(sorted[0]!.startedAt).toISOString(),
    protocol: protocols.size === 1 ? [...protocols][0]! : 'mixed',
    service: services.size === 1 ? ([...services][0] as 'ads' | 'per-type') : 'mixed',
    ...(hosts.size > 1 && { conflict: true }),
    streams: sorted.map((s) => ({
      id: s.id,
      protocol: s.protocol,
      service: s.service,
      connectedSince: new Date(s.startedAt).toISOString(),
      ...(s.peer && { peer: s.peer.address }),
    })),
    types,
  };
}
