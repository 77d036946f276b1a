/**
 * State-of-the-world xDS on one stream (xDS protocol, "ACK/NACK and resource type instance
 * version", "resource hints", "knowing when a requested resource does not exist"):
 * - CDS/LDS: wildcard when the first request names nothing, else the named resources; the
 *   response is the full set, so a resource missing from it is removed or does not exist. A
 *   changed CDS/LDS subscription is answered even when the set is the same, except when that set
 *   was NACKed (below). gRPC clients do not learn from it that a name never received does not
 *   exist: they wait for their 15 s timer (the protocol's "knowing when a requested resource does
 *   not exist"), so that exception costs them nothing.
 * - EDS/RDS: only the named resources that exist; nothing is sent while none exists. To gRPC
 *   clients, after the first answer, only the resources that changed or were newly asked.
 * - A request whose non-empty response_nonce is not the latest sent for its type is stale and ignored
 *   (but a name it leaves out is no longer held by the client, so asked again it is sent again).
 * - ACK (latest nonce, no error_detail, version_info = the version sent) records the version
 *   acknowledged; NACK (latest nonce with error_detail)
 *   records the rejection and is not answered: the same set is never sent twice in a row, so
 *   the next response for that type waits for a real change of content or subscription.
 * - After a CDS response, EDS is sent again to Envoy (even if unchanged, unless that set was
 *   NACKed): Envoy re-warms a changed cluster until it receives its ClusterLoadAssignment. A gRPC
 *   client keeps the endpoints it holds, so it is not resent them.
 * - After an EDS NACK, Envoy's EDS responses leave out the ClusterLoadAssignments it may have
 *   rejected (those that differ from what it kept), while keyway serves them unchanged: resent,
 *   the whole response is rejected again and a re-warming cluster comes up with no endpoint. The
 *   type stays NACKED until they change.
 * - A request that changes a subscription is answered after a short hold-off (hold-off.ts), so a
 *   burst of them (a gRPC client subscribing one name per request) gets one answer.
 * - A gRPC client whose first CDS request names clusters keyway does not serve (it comes from
 *   another keyway, with routes naming them) is sent its clusters only once it has ACKed this
 *   stream's routes and let those go, or a bound ran out (#waitsForRoutes): make-before-break on
 *   reconnect, which no per-class staging covers.
 */
import type { DiscoveryRequest } from '../proto.js';
import { TYPE_URL, type ResourceKind } from '../resources.js';
import type { EncodedResource, KindSnapshot } from '../cache/index.js';
import type { TypeTracker } from './proxy-state.js';
import { Session, WILDCARD_KINDS, type SessionContext, type StreamPeer } from './session.js';
import type { StreamService } from './proxy-state.js';
import { encodeSotwResponse, sharedResponse } from './wire.js';
import type { StreamOutput } from './outbox.js';
import { namesKey, type OwnedMemo } from './owned-memo.js';

/** Types whose SotW answers may leave out unchanged resources (xDS protocol: RDS and EDS are not state-of-the-world sets). */
const PARTIAL_KINDS: ReadonlySet<ResourceKind> = new Set(['endpoint', 'route']);
const NO_NAMES: ReadonlySet<string> = new Set();
/**
 * EDS responses to Envoy remembered, newest last: a NACK names the version the proxy kept, usually
 * the one before; a proxy slow to answer may keep an older one.
 */
const RECENT_EDS = 4;
/**
 * gRPC: how long after a client first ACKs a stream's routes a CDS answer that drops clusters it
 * still asks for may wait for it to let them go (its routes from before the stream named them; it
 * releases them once no call uses them). As GRPC_STAGE_LINGER_MS: the client ACKs routes as it reads
 * them and applies them a moment later.
 */
export const RECONNECT_ROUTE_LINGER_MS = 1_000;
/**
 * gRPC: bound on that wait from the stream's first CDS request, for a client that never ACKs this
 * stream's routes (it NACKs them, or asks none): it is then sent its clusters, and a warning logged.
 */
export const RECONNECT_CDS_HOLD_MAX_MS = 10_000;

/** A state-of-the-world stream, ADS or per-type (docs/xds-protocol.md "State of the world"). */
export class SotwSession extends Session {
  /** Kinds held back by backpressure, and whether one of the held pushes was forced. */
  readonly #heldForce = new Map<ResourceKind, boolean>();
  /** Envoy EDS: the latest responses' versions and what the proxy holds once it applies each (shared maps, never changed in place). */
  readonly #edsRecent: { readonly version: string; readonly holds: ReadonlyMap<string, EncodedResource> }[] = [];
  /** Envoy EDS: what the proxy held when it sent its latest NACK (the good ones of the endpoints it rejected). */
  #edsGood: ReadonlyMap<string, EncodedResource> = new Map();
  /** Envoy EDS: ClusterLoadAssignments of NACKed responses the proxy did not hold before, by name: the rejected version. */
  readonly #edsRejected = new Map<string, string>();
  /** Envoy EDS: the nonce of the latest response that left rejected ClusterLoadAssignments out. */
  #edsWithheldNonce: string | undefined;
  /**
   * gRPC: the names of the stream's first CDS request (what the client held when it connected) and
   * when it came, kept until no CDS answer need wait for them (#waitsForRoutes); when routes were
   * first ACKed. Times on the monotonic clock (performance.now), so a wall-clock step does not
   * stretch or cut the wait.
   */
  #connectedWith: { readonly names: ReadonlySet<string>; readonly at: number } | undefined;
  #routesAckedAt: number | undefined;
  /** gRPC: the CDS answer waiting for the client to move to this stream's routes, and whether it was forced. */
  #cdsWait: { timer: NodeJS.Timeout; force: boolean } | undefined;

  constructor(ctx: SessionContext, id: string, service: StreamService, out: StreamOutput, peer?: StreamPeer) {
    super(ctx, id, 'sotw', service, out, peer);
  }

  /** Handles one DiscoveryRequest. Throws ProtocolError when the stream must end. */
  onRequest(req: DiscoveryRequest): void {
    const t = this.trackerFor(req);
    if (!t) return;
    const kind = t.kind;
    let chars = 0;
    for (const n of req.resourceNames) chars += n.length;
    this.checkNames(kind, req.resourceNames.length, chars);
    if (t.isStale(req.responseNonce)) {
      this.log.debug({ kind, nonce: req.responseNonce, latest: t.nonce }, 'stale nonce; request ignored');
      // Ignored as a subscription, but a name it leaves out was dropped by the client all the same.
      // (A stream not wildcard has named names before, so an empty list asks for nothing.)
      if (!t.wildcard && t.sent.size > 0 && !req.resourceNames.includes('*')) {
        const asked = new Set(req.resourceNames);
        forgetUnsubscribed(t, (name) => asked.has(name));
      }
      return;
    }
    const now = Date.now();
    // The first answer to a response counts; a later request with its nonce (a subscription change,
    // a repeated NACK) is not another ACK or NACK to count and log.
    if (req.responseNonce !== '' && req.responseNonce === t.nonce && !t.answered) {
      if (req.errorDetail) {
        const error = this.recordNack(kind, t, req.errorDetail.message, now);
        if (this.#rewarms(kind)) this.#noteRejected(t, req.versionInfo);
        this.logNack(kind, t, error, 'NACK: proxy rejected the version sent; it will not be resent');
      } else if (req.versionInfo === t.versionSent) {
        this.recordAck(kind, t, now);
        if (kind === 'route' && this.#routesAckedAt === undefined) {
          this.#routesAckedAt = performance.now();
          // A CDS answer waiting for these routes now waits at most the linger from here.
          if (this.#cdsWait) this.#push('cluster', this.#cdsWait.force);
        }
        // It accepted what it was sent, but not the rejected endpoints left out: still NACKED.
        if (this.#rewarms(kind) && t.nonce === this.#edsWithheldNonce) t.nacked = true;
      }
      // Same nonce, no error, older version_info: a proxy still on its previous version changing its
      // subscription after a NACK. Neither an ACK nor a new NACK.
    }
    if (kind === 'cluster' && !t.initialized && req.resourceNames.length > 0 && this.identity.proxyClass.flavor === 'grpc') {
      this.#connectedWith = { names: new Set(req.resourceNames), at: performance.now() };
    }
    const changed = subscribe(t, req.resourceNames, this.snapshot()?.kinds[kind].resources, kind === 'route' ? this.#routeNames : undefined);
    t.initialized = true;
    if (changed) {
      if (!t.wildcard) forgetUnsubscribed(t, (name) => t.names.has(name));
      this.subscriptionChanged(kind);
      if (kind === 'route' && !t.wildcard) this.reportUnservedRoutes(t.names);
    }
    // A new CDS/LDS question is answered even if the set is the same (the full state of what was
    // asked), unless that set was NACKed: it would only be rejected again (#push).
    this.#push(kind, changed && WILDCARD_KINDS.has(kind));
  }

  protected onKindChanged(kind: ResourceKind): void {
    this.#push(kind, false);
  }

  /** The RDS names this stream adds and drops, counted across streams (route-subscriptions.ts). */
  readonly #routeNames: SubscriptionDiff = { added: (name) => this.routeAdded(name), removed: (name) => this.routeRemoved(name) };

  protected resume(kind: ResourceKind): void {
    const force = this.#heldForce.get(kind) ?? false;
    this.#heldForce.delete(kind);
    this.#push(kind, force);
  }

  /** Is `kind` Envoy's EDS, which re-warms clusters (the endpoints it rejected are tracked)? */
  #rewarms(kind: ResourceKind): boolean {
    return kind === 'endpoint' && this.identity.proxyClass.flavor !== 'grpc';
  }

  /**
   * The latest EDS response was NACKed. The whole response is rejected, so which of its
   * ClusterLoadAssignments Envoy refused is not known: those that differ from what it holds (the
   * response of `goodVersion`, the NACK's version_info) are suspect, and left out of later
   * responses while keyway serves that same version (withheld). When that response is not among
   * the latest few, every one is suspect.
   */
  #noteRejected(t: TypeTracker, goodVersion: string): void {
    const earlier = this.#edsRecent.slice(0, -1).reverse();
    const good = goodVersion === '' ? new Map<string, EncodedResource>() : earlier.find((r) => r.version === goodVersion)?.holds;
    this.#edsGood = good ?? new Map();
    for (const r of t.sent.values()) if (good?.get(r.name)?.version !== r.version) this.#edsRejected.set(r.name, r.version);
  }

  /** Envoy EDS: remembers a response sent (`holds`: what the proxy holds once it applies it). */
  #noteSent(kind: ResourceKind, version: string, holds: ReadonlyMap<string, EncodedResource>): void {
    if (!this.#rewarms(kind)) return;
    this.#edsRecent.push({ version, holds });
    if (this.#edsRecent.length > RECENT_EDS) this.#edsRecent.shift();
  }

  /**
   * Envoy EDS: the names of `ks`'s selection to leave out, at a version the proxy rejected. Resent,
   * the whole response is rejected again, and a cluster re-warming meanwhile (any cluster change)
   * comes up with no endpoint at all (Envoy 1.40); left out, Envoy keeps its last good endpoints,
   * which a re-warming cluster takes after initial_fetch_timeout. Entries the snapshot moved past
   * are dropped.
   */
  #withheld(ks: KindSnapshot, sel: Selection): ReadonlySet<string> {
    if (this.#edsRejected.size === 0) return NO_NAMES;
    const out = new Set<string>();
    for (const [name, version] of this.#edsRejected) {
      const r = ks.resources.get(name);
      if (r?.version !== version) this.#edsRejected.delete(name);
      else if (sel.byName.has(name)) out.add(name);
    }
    return out;
  }

  /** Sends `kind` if the set this stream should hold differs from the last one sent (or if forced). */
  #push(kind: ResourceKind, force: boolean): void {
    const t = this.types.get(kind);
    if (!t?.initialized) return;
    if (this.holdBack(kind)) {
      // Only the latest state is sent once the proxy catches up; a forced answer stays forced.
      this.#heldForce.set(kind, force || (this.#heldForce.get(kind) ?? false));
      return;
    }
    const snap = this.snapshot();
    if (!snap) return;
    const ks = snap.kinds[kind];
    // What this stream should hold, shared by every stream with the same subscription of this kind snapshot.
    const sel = selection(this.memos.selections, ks, t);
    if (kind === 'cluster' && this.#waitsForRoutes(t, ks, force)) return;
    if (t.nonce === undefined && sel.resources.length === 0 && !WILDCARD_KINDS.has(kind)) return;
    const withheld = this.#rewarms(kind) ? this.#withheld(ks, sel) : NO_NAMES;
    // Forced (a new CDS/LDS question, EDS after CDS) or not, the set last sent is not sent again
    // right after its NACK: no NACK loop. Without the rejected endpoints it is not that set.
    if (sel.signature === t.sentSignature && (!force || (t.nacked && withheld.size === 0))) return;
    if (withheld.size > 0) {
      this.#sendWithheld(t, ks, sel, withheld);
      return;
    }
    // EDS and RDS may carry only what changed (xDS protocol: a resource of these types left out of a
    // response is kept, not removed). gRPC clients get that, so an ownership change costs what it
    // changed, not every subscribed resource again; Envoy keeps full answers (it re-warms on them).
    const partial = !force && t.nonce !== undefined && PARTIAL_KINDS.has(kind) && this.identity.proxyClass.flavor === 'grpc';
    // Only changed or newly asked resources are sent; unsubscribed names leave what the proxy holds.
    const update = partial ? partialUpdate(t.sent, sel) : undefined;
    const outgoing = update?.outgoing ?? sel.resources;
    if (update && outgoing.length === 0) {
      t.holdShared(sel.byName);
      t.sentSignature = sel.signature;
      return;
    }
    const key = update?.key ?? sel.signature;
    const response = sharedResponse(ks, `${this.ctx.controlPlane ?? ''}\u0000${key}`, t.nonce, (nonce) =>
      encodeSotwResponse({ versionInfo: ks.version, typeUrl: TYPE_URL[kind], nonce, controlPlane: this.ctx.controlPlane }, outgoing),
      this.memos.responses,
    );
    const nonce = response.nonce;
    this.send(response);
    this.recordSent(kind, t, nonce, ks.version, outgoing.length);
    t.sentSignature = sel.signature;
    // After a partial update too the proxy holds exactly the selection (what it kept had the
    // selection's versions), so it shares the selection's map rather than a copy of its own.
    t.holdShared(sel.byName);
    this.#noteSent(kind, ks.version, sel.byName);
    if (this.debug) this.log.debug({ kind, version: ks.version, nonce, resources: outgoing.length, partial }, 'sent');
    // Envoy re-warms a changed cluster until it gets its endpoints again; a gRPC client keeps the
    // endpoints it holds (its xDS client caches every resource it watches), so it is not resent them.
    if (kind === 'cluster' && this.identity.proxyClass.flavor !== 'grpc') this.#push('endpoint', true);
  }

  /**
   * gRPC: does this CDS answer wait for the client to run on this stream's routes? A client that
   * comes from another keyway (a restarted one, another replica) asks on its first CDS request for
   * the clusters its routes from there name. One keyway does not serve is left out of the full CDS
   * answer, so the client drops it at once, and its calls on those routes fail ("Cluster resource
   * ... does not exist") until the routes of this stream, sent after it, arrive: break before make.
   * So while the client asks for such a cluster, the answer waits until the client has ACKed this
   * stream's routes and let it go (it stops asking for it), at most RECONNECT_ROUTE_LINGER_MS after
   * that ACK and RECONNECT_CDS_HOLD_MAX_MS after its first CDS request. Meanwhile it keeps the
   * clusters it holds, and grpc-js-xds keeps its old routes until it has the new ones' clusters.
   * Once no such cluster is asked, the stream is like any other: a name asked later that does not
   * exist, or a cluster removed, is answered at once.
   */
  #waitsForRoutes(t: TypeTracker, ks: KindSnapshot, force: boolean): boolean {
    const connected = this.#connectedWith;
    if (!connected || t.wildcard) return false;
    let absent = false;
    for (const name of connected.names) {
      if (t.names.has(name) && !ks.resources.has(name)) {
        absent = true;
        break;
      }
    }
    const now = performance.now();
    const until = Math.min(connected.at + RECONNECT_CDS_HOLD_MAX_MS, (this.#routesAckedAt ?? Infinity) + RECONNECT_ROUTE_LINGER_MS);
    if (!absent || now >= until) {
      if (absent && this.#routesAckedAt === undefined) {
        this.log.warn(
          { waitedMs: Math.round(now - connected.at), bound: RECONNECT_CDS_HOLD_MAX_MS },
          'gRPC client still asks for clusters keyway does not serve and ACKed no routes; its clusters are sent without them',
        );
      }
      // From here the stream is like any other: its routes name only what keyway serves, or the wait ran out.
      this.#connectedWith = undefined;
      this.#endCdsWait();
      return false;
    }
    const wasForced = this.#cdsWait?.force ?? false;
    if (this.#cdsWait) clearTimeout(this.#cdsWait.timer);
    const timer = setTimeout(() => {
      const f = this.#cdsWait?.force ?? false;
      this.#cdsWait = undefined;
      if (!this.closed) this.#push('cluster', f);
    }, Math.ceil(until - now));
    timer.unref();
    this.#cdsWait = { timer, force: force || wasForced };
    return true;
  }

  #endCdsWait(): void {
    if (!this.#cdsWait) return;
    clearTimeout(this.#cdsWait.timer);
    this.#cdsWait = undefined;
  }

  override close(reason: string): void {
    this.#endCdsWait();
    super.close(reason);
  }

  /**
   * Envoy EDS without the ClusterLoadAssignments it rejected (`withheld`): a ClusterLoadAssignment
   * left out of an EDS response is kept (xDS protocol), so the proxy holds its last good one of
   * those. The type stays NACKED after the ACK of this response.
   */
  #sendWithheld(t: TypeTracker, ks: KindSnapshot, sel: Selection, withheld: ReadonlySet<string>): void {
    const outgoing = sel.resources.filter((r) => !withheld.has(r.name));
    const holds = new Map(sel.byName);
    for (const name of withheld) {
      const good = this.#edsGood.get(name);
      if (good) holds.set(name, good);
      else holds.delete(name);
    }
    t.sentSignature = sel.signature;
    t.holdShared(holds);
    if (outgoing.length === 0) return;
    // Apart from the keys of whole selections (names and versions): this body leaves some out.
    const key = `\u0000withheld\u0000${outgoing.map((r) => `${r.name}@${r.version}`).join('\n')}`;
    const response = sharedResponse(ks, `${this.ctx.controlPlane ?? ''}\u0000${key}`, t.nonce, (nonce) =>
      encodeSotwResponse({ versionInfo: ks.version, typeUrl: TYPE_URL.endpoint, nonce, controlPlane: this.ctx.controlPlane }, outgoing),
      this.memos.responses,
    );
    this.send(response);
    this.recordSent('endpoint', t, response.nonce, ks.version, outgoing.length);
    this.#edsWithheldNonce = response.nonce;
    this.#noteSent('endpoint', ks.version, holds);
    if (this.debug) this.log.debug({ kind: 'endpoint', version: ks.version, nonce: response.nonce, resources: outgoing.length, withheld: withheld.size }, 'sent without rejected endpoints');
  }
}

/**
 * Applies a SotW request's resource_names to the subscription (wildcard rules of the xDS protocol).
 * Returns whether the subscription changed. A name keyway serves is kept as the name string of the
 * resource in `served`, not the request's copy: every stream of a class asks for the same names
 * (a stock gRPC client for hundreds of clusters), and a copy per stream made a reconnect storm
 * of such clients exhaust the heap.
 */
function subscribe(t: TypeTracker, names: readonly string[], served?: ReadonlyMap<string, EncodedResource>, diff?: SubscriptionDiff): boolean {
  // Compared as sets, without sorting: a client growing its subscription one name per request sends
  // n requests of up to n names, so this runs O(n) per request.
  const wildcardBefore = t.wildcard;
  const before = new Set(t.names);
  t.names.clear();
  if (names.length === 0) {
    // Legacy wildcard: an empty first CDS/LDS request means "everything", and stays so while requests stay empty.
    t.wildcard = WILDCARD_KINDS.has(t.kind) && (!t.initialized || t.legacyWildcard);
    t.legacyWildcard = t.wildcard;
  } else {
    t.legacyWildcard = false;
    // `*` counts for every type, though the protocol names it for LDS/CDS only (go-control-plane
    // does the same): no known client sends it for EDS/RDS, and one that does gets every resource
    // of its class, none it could not name.
    t.wildcard = names.includes('*');
    for (const n of names) if (n !== '*') t.names.add(served?.get(n)?.name ?? n);
  }
  let changed = !t.initialized || t.wildcard !== wildcardBefore || t.names.size !== before.size;
  if (!changed) for (const n of t.names) if (!before.has(n)) changed = true;
  if (changed) t.namesKey = undefined;
  if (changed && diff) {
    // O(names), as the comparison above; a name kept is neither added nor released.
    for (const n of t.names) if (!before.has(n)) diff.added(n);
    for (const n of before) if (!t.names.has(n)) diff.removed(n);
  }
  return changed;
}

/** Told each name a subscription gained and lost (`subscribe`). */
interface SubscriptionDiff {
  added(name: string): void;
  removed(name: string): void;
}

/**
 * The proxy drops a resource it no longer asks for (grpc-js-xds and grpc-go forget a resource
 * nothing watches), so it is forgotten here too, when the request comes: asked again, it is new
 * and must be sent again (xDS protocol: the server resends every newly requested resource), even
 * when the answer is built after a hold-off or backpressure from a subscription back where it was,
 * or when the request that dropped it was stale (ignored as a subscription, yet the client acted
 * on it). `asked`: is a name still in the request? Only for a named (not wildcard) request.
 */
function forgetUnsubscribed(t: TypeTracker, asked: (name: string) => boolean): void {
  let dropped = false;
  for (const name of t.sent.keys()) {
    if (!asked(name)) {
      dropped = true;
      break;
    }
  }
  if (!dropped) return;
  const sent = t.sentForUpdate();
  for (const name of [...sent.keys()]) if (!asked(name)) sent.delete(name);
  // The set last sent is no longer what the proxy holds: the next answer is not a repeat of it.
  t.sentSignature = undefined;
}

/** What a SotW stream holds of one kind snapshot: the resources, by name, and their signature. */
interface Selection {
  /** Its memo key: every stream of the subscription holds this one string (a copy each costs tens of KB). */
  readonly key: string;
  readonly resources: readonly EncodedResource[];
  readonly byName: ReadonlyMap<string, EncodedResource>;
  /** The whole kind (wildcard) is named by its version; a named selection by its names and versions. */
  readonly signature: string;
}

// Per map a stream holds, per selection: what a partial update sends, computed once for every
// stream holding the same map (they hold their selection's: see holdShared above), not per stream:
// with thousands of gRPC clients of thousands of clusters each, a filter per stream cost seconds.
const partialUpdates = new WeakMap<ReadonlyMap<string, EncodedResource>, WeakMap<Selection, { outgoing: EncodedResource[]; key: string }>>();

function partialUpdate(held: ReadonlyMap<string, EncodedResource>, sel: Selection): { outgoing: EncodedResource[]; key: string } {
  let bySel = partialUpdates.get(held);
  if (!bySel) partialUpdates.set(held, (bySel = new WeakMap()));
  let update = bySel.get(sel);
  if (!update) {
    const outgoing = sel.resources.filter((r) => held.get(r.name)?.version !== r.version);
    update = { outgoing, key: `+${outgoing.map((r) => `${r.name}@${r.version}`).join('\n')}` };
    bySel.set(sel, update);
  }
  return update;
}

/**
 * Per kind snapshot, per subscription key ('*' or the sorted names, namesKey): the selection, computed once
 * for every stream of that subscription (thousands of Envoys ask for the same names). `memo` is
 * bounded (its cost: keys, signatures and a few words per resource), so a selection may be made again.
 */
function selection(memo: OwnedMemo<unknown>, ks: KindSnapshot, t: TypeTracker): Selection {
  const key = t.wildcard ? '*' : (t.namesKey ??= namesKey([...t.names].sort()));
  let sel = memo.get(ks, key) as Selection | undefined;
  if (!sel) {
    let resources: EncodedResource[];
    if (t.wildcard) resources = [...ks.resources.values()];
    else {
      resources = [];
      for (const name of [...t.names].sort()) {
        const r = ks.resources.get(name);
        if (r) resources.push(r);
      }
    }
    const signature = t.wildcard ? `*${ks.version}` : resources.map((r) => `${r.name}@${r.version}`).join('\n');
    sel = { key, resources, byName: new Map(resources.map((r) => [r.name, r])), signature };
    memo.set(ks, key, sel, key.length + signature.length + 64 * resources.length);
  }
  if (!t.wildcard) t.namesKey = sel.key;
  return sel;
}
