/**
 * Incremental (delta) xDS on one stream (xDS protocol, "incremental xDS"):
 * - resource_names_subscribe / _unsubscribe add and remove names; "*" (or, for CDS/LDS, an empty
 *   first request) subscribes to everything of the type.
 * - initial_resource_versions (first request of a type on a reconnected stream) says what the
 *   proxy already holds: unchanged resources are not sent again.
 * - Only resources whose version differs from what the proxy holds are sent; a held resource that
 *   disappears is listed in removed_resources; a name subscribed that does not exist is listed
 *   there too, so the proxy learns it does not exist.
 * - A fresh wildcard subscription gets a response even when the type has no resource.
 * - Every name in resource_names_subscribe is answered, even if the proxy should already hold it.
 * - A name unsubscribed while "*" stays subscribed is answered too, when the proxy holds it or
 *   keyway serves it: sent again if it exists (the wildcard holds it), else listed in
 *   removed_resources; the client cannot tell which on its own.
 * - ACK/NACK refer to the latest nonce of the type; a NACK is recorded and not answered (the
 *   rejected versions count as held, so they are not sent again until they change). Subscription
 *   changes carried by a request with an older nonce still apply; only its ACK/NACK is ignored.
 * - After clusters are sent, the ClusterLoadAssignments they use are sent again to Envoy (cluster
 *   warming), also when EDS is first asked after them on the stream (a reconnect), whatever its
 *   initial_resource_versions say, and right after an EDS NACK; but not those of a NACKed EDS
 *   response while the proxy is deemed to hold them (rejected again, they leave a re-warming
 *   cluster with no endpoint). A gRPC client keeps the endpoints it holds.
 * - A request that changes a subscription is answered after a short hold-off (hold-off.ts), so a
 *   burst of them gets one answer.
 */
import type { DeltaDiscoveryRequest } from '../proto.js';
import { TYPE_URL, type ResourceKind } from '../resources.js';
import type { EncodedResource, KindSnapshot } from '../cache/index.js';
import { Session, WILDCARD_KINDS, type SessionContext, type StreamPeer } from './session.js';
import type { StreamService, TypeTracker } from './proxy-state.js';
import { frameDeltaResponse, sharedFrame, SharedResponse } from './wire.js';
import type { StreamOutput } from './outbox.js';
import { namesKey } from './owned-memo.js';
import { HeldVersions } from './held-versions.js';

const NONE: ReadonlySet<string> = new Set();

/** What a push held back by backpressure must still do when it runs: names to resend and to answer. */
interface Held {
  readonly force: Set<string>;
  readonly asked: Set<string>;
}

/** What a stream subscribed by name holds of a kind snapshot once pushed, shared by the streams of that subscription. */
interface Holding {
  /** Its memo key: every stream of the subscription keeps this one string, not a copy of its own. */
  readonly key: string;
  readonly byName: ReadonlyMap<string, EncodedResource>;
}

/** Apart from SotW's selection keys ('*' or namesKey) in the memo both share. */
const HOLDING_KEY_PREFIX = 'delta\u0000';

/** A delta stream, ADS or per-type (docs/xds-protocol.md "Delta (incremental)"); the ownership agent speaks this one. */
export class DeltaSession extends Session {
  readonly #held = new Map<ResourceKind, Held>();
  /** Envoy: endpoints of clusters sent before EDS was first asked, resent on its first request. */
  readonly #rewarmOnFirstEds = new Set<string>();
  /** The ClusterLoadAssignments of the latest EDS response (the array it was built from, not a map of its own). */
  #lastEds: readonly EncodedResource[] = [];
  /** ClusterLoadAssignments Envoy rejected (NACK), by name: the rejected version. */
  readonly #rejectedEds = new Map<string, string>();
  /** Per kind subscribed by name: the memo key of its sorted names (undefined while stale). */
  readonly #namesKeys = new Map<ResourceKind, string>();
  /** Per kind: the version of each resource the proxy holds (from initial_resource_versions, then from what was pushed). */
  readonly #known = new Map<ResourceKind, HeldVersions>();

  constructor(ctx: SessionContext, id: string, service: StreamService, out: StreamOutput, peer?: StreamPeer) {
    super(ctx, id, 'delta', service, out, peer);
  }

  /** Handles one DeltaDiscoveryRequest. Throws ProtocolError when the stream must end. */
  onRequest(req: DeltaDiscoveryRequest): void {
    const t = this.trackerFor(req);
    if (!t) return;
    const kind = t.kind;
    const now = Date.now();
    if (req.responseNonce !== '') {
      if (req.responseNonce !== t.nonce) {
        this.log.debug({ kind, nonce: req.responseNonce, latest: t.nonce }, 'stale nonce; ACK/NACK ignored');
      } else if (t.answered) {
        // The latest response was answered already: a later request carrying its nonce (a
        // subscription change, a repeated NACK) is not a second answer, counted and logged again.
      } else if (req.errorDetail) {
        const error = this.recordNack(kind, t, req.errorDetail.message, now);
        if (kind === 'endpoint') this.#noteRejected(this.#knownOf(kind));
        this.logNack(kind, t, error, 'NACK: proxy rejected the resources sent; they will not be resent');
      } else {
        this.recordAck(kind, t, now);
        // An ACK of later resources does not apply the rejected ones: while the proxy is deemed to
        // hold a rejected version it still runs on its last good one, so the type stays NACKED
        // (as in SotW), and /readyz keeps the proxy_nack reason until they change.
        if (kind === 'endpoint' && this.#holdsRejected(this.#knownOf(kind))) t.nacked = true;
      }
    }
    const first = !t.initialized;
    const known = this.#knownOf(kind);
    const served = this.snapshot()?.kinds[kind].resources;
    if (first) {
      this.checkNames(kind, Object.keys(req.initialResourceVersions).length);
      for (const [name, version] of Object.entries(req.initialResourceVersions)) {
        const r = served?.get(name);
        // Kept as the snapshot's strings where they match: a restarted keyway gets every proxy's
        // versions of every resource at once, and a copy per stream of each name and version
        // made a reconnect storm cost tens of KB per stream.
        known.set(r?.name ?? name, r?.version === version ? r.version : version);
      }
      // Legacy wildcard. An explicit subscribe later adds its names and keeps the wildcard: the xDS
      // protocol's incremental example ("How the client specifies what resources to return")
      // answers a subscribe to "A" after an empty first request as "continuing the existing
      // subscription to * and adding a new subscription to A"; only unsubscribing "*" ends it, and
      // an empty subscription after that is empty, not wildcard. (SotW differs: each request is the
      // whole set, so names without "*" end it; sotw-session.ts.) go-control-plane does the same.
      if (req.resourceNamesSubscribe.length === 0 && WILDCARD_KINDS.has(kind)) t.wildcard = true;
    }
    const asked = new Set<string>();
    if (req.resourceNamesSubscribe.length > 0 || req.resourceNamesUnsubscribe.length > 0) this.#namesKeys.delete(kind);
    for (const name of req.resourceNamesSubscribe) {
      if (name === '*') t.wildcard = true;
      else {
        // The snapshot's string for a name it serves, not the request's copy (as SotW: every
        // stream of a class asks for the same names, hundreds of long ones for Envoy EDS).
        const shared = served?.get(name)?.name ?? name;
        if (!t.names.has(shared)) {
          t.nameChars += shared.length;
          if (kind === 'route') this.routeAdded(shared);
        }
        t.names.add(shared);
        asked.add(shared);
      }
    }
    // A push waiting for the proxy keeps what it must resend and answer only while it is asked for:
    // a proxy that reads nothing and keeps asking and dropping new names must not grow it for ever.
    const held = this.#held.get(kind);
    const dropped = new Set<string>();
    for (const name of req.resourceNamesUnsubscribe) {
      if (name === '*') t.wildcard = false;
      else if (t.names.delete(name)) {
        t.nameChars -= name.length;
        if (kind === 'route') this.routeRemoved(name);
        dropped.add(name);
      }
      held?.force.delete(name);
      held?.asked.delete(name);
    }
    // A name dropped while "*" stays subscribed may still be the wildcard's: the client cannot tell,
    // so it keeps the resource as ambiguous until told. The xDS protocol ("Unsubscribing from
    // Resources") has the server answer it: sent again if it exists, else listed as removed. Only
    // a name the proxy holds or keyway serves needs it (one never sent was already answered as
    // not existing), which also bounds what a push waiting for a proxy that reads nothing keeps.
    if (t.wildcard && dropped.size > 0) {
      for (const name of dropped) if (known.has(name) || served?.has(name)) asked.add(name);
    }
    // Checked on the subscription as it now is: names unsubscribed that were never subscribed
    // must not make room for as many new ones (one request is bounded by gRPC's message size).
    this.checkNames(kind, t.names.size, t.nameChars);
    if (!t.wildcard) {
      // The proxy drops what it no longer subscribes to; forget it so a later subscribe resends it.
      for (const name of known.names()) {
        if (!t.names.has(name)) {
          known.delete(name);
          t.sentForUpdate().delete(name);
        }
      }
    }
    t.initialized = true;
    if (first || req.resourceNamesSubscribe.length > 0 || req.resourceNamesUnsubscribe.length > 0) this.subscriptionChanged(kind);
    if (kind === 'route' && req.resourceNamesSubscribe.length > 0) this.reportUnservedRoutes([...asked].filter((name) => t.names.has(name)));
    // On the first request the proxy's held versions decide (but for clusters re-warming, above);
    // afterwards every subscribed name is answered.
    this.#push(kind, first ? this.#takeRewarm(kind) : asked, asked);
  }

  /**
   * An EDS response was NACKed: its ClusterLoadAssignments are suspect. Kept while the proxy is
   * deemed to hold that version, so the rest stays bounded by what it holds.
   */
  #noteRejected(known: HeldVersions): void {
    for (const r of this.#lastEds) this.#rejectedEds.set(r.name, r.version);
    for (const [name, version] of this.#rejectedEds) if (known.get(name) !== version) this.#rejectedEds.delete(name);
  }

  /** Does the proxy still hold (by keyway's account) an endpoint set at a version it rejected? */
  #holdsRejected(known: HeldVersions): boolean {
    for (const [name, version] of this.#rejectedEds) if (known.get(name) === version) return true;
    return false;
  }

  /** What the proxy holds of `kind`, by keyway's account. */
  #knownOf(kind: ResourceKind): HeldVersions {
    let known = this.#known.get(kind);
    if (!known) {
      known = new HeldVersions();
      this.#known.set(kind, known);
    }
    return known;
  }

  /** On EDS's first request: the endpoints of clusters sent before it, which Envoy re-warms. */
  #takeRewarm(kind: ResourceKind): ReadonlySet<string> {
    if (kind !== 'endpoint' || this.#rewarmOnFirstEds.size === 0) return NONE;
    const names = new Set(this.#rewarmOnFirstEds);
    this.#rewarmOnFirstEds.clear();
    return names;
  }

  protected onKindChanged(kind: ResourceKind): void {
    this.#push(kind, NONE, NONE);
  }

  protected resume(kind: ResourceKind): void {
    this.#push(kind, NONE, NONE);
  }

  /** Keeps what a push that cannot go now must still resend and answer, for the next push of `kind`. */
  #hold(kind: ResourceKind, force: ReadonlySet<string>, asked: ReadonlySet<string>): void {
    const held = this.#held.get(kind) ?? { force: new Set<string>(), asked: new Set<string>() };
    for (const n of force) held.force.add(n);
    for (const n of asked) held.asked.add(n);
    this.#held.set(kind, held);
  }

  /** `force` and `asked` with what earlier pushes of `kind` held, taken (then forgotten). */
  #takeHeld(kind: ResourceKind, force: ReadonlySet<string>, asked: ReadonlySet<string>): { force: ReadonlySet<string>; asked: ReadonlySet<string> } {
    const held = this.#held.get(kind);
    if (!held) return { force, asked };
    this.#held.delete(kind);
    const t = this.types.get(kind);
    // Names unsubscribed while the push waited are no longer the proxy's question.
    const keep = (names: ReadonlySet<string>, more: ReadonlySet<string>): Set<string> => {
      const out = new Set(more);
      for (const n of names) if (t?.wildcard || t?.names.has(n)) out.add(n);
      return out;
    };
    return { force: keep(held.force, force), asked: keep(held.asked, asked) };
  }

  /**
   * What the proxy holds of `ks` once a push of it is done: every resource of `ks` it subscribes to,
   * at `ks`'s version (what was sent changed, what was not it held already, what it held that `ks`
   * lacks was removed). Shared, not a map per stream: the snapshot's own map for a wildcard, else
   * one map per subscription (thousands of Envoys ask for the same hundreds of endpoints).
   */
  #holding(kind: ResourceKind, ks: KindSnapshot, t: TypeTracker): ReadonlyMap<string, EncodedResource> {
    if (t.wildcard) return ks.resources;
    const key = this.#namesKeys.get(kind) ?? HOLDING_KEY_PREFIX + namesKey([...t.names].sort());
    const memo = this.memos.selections;
    let holding = memo.get(ks, key) as Holding | undefined;
    if (!holding) {
      const byName = new Map<string, EncodedResource>();
      for (const name of t.names) {
        const r = ks.resources.get(name);
        if (r) byName.set(r.name, r);
      }
      holding = { key, byName };
      memo.set(ks, key, holding, key.length + 64 * byName.size);
    }
    this.#namesKeys.set(kind, holding.key);
    return holding.byName;
  }

  /**
   * Sends what changed for `kind`: resources whose version differs from the held one (or that are
   * in `force`), and removals of held resources that are gone or `asked` names that do not exist.
   */
  #push(kind: ResourceKind, force: ReadonlySet<string>, asked: ReadonlySet<string>): void {
    const t = this.types.get(kind);
    if (!t?.initialized) return;
    if (this.holdBack(kind)) {
      // Delta responses build on each other, so nothing is built now: the push runs on the state
      // of its time once the proxy catches up, still resending and answering what it was asked.
      this.#hold(kind, force, asked);
      return;
    }
    const snap = this.snapshot();
    if (!snap) {
      // The class has no snapshot yet (its first build failed): the watch pushes when one comes,
      // and that push must still answer the names asked now (a name that does not exist is then
      // listed as removed, or the proxy waits for it until its own timeout).
      this.#hold(kind, force, asked);
      return;
    }
    ({ force, asked } = this.#takeHeld(kind, force, asked));
    const ks = snap.kinds[kind];
    const known = this.#knownOf(kind);
    const changed: EncodedResource[] = [];
    for (const r of ks.resources.values()) {
      if (!t.wildcard && !t.names.has(r.name)) continue;
      const held = known.get(r.name);
      if (held !== r.version || force.has(r.name)) changed.push(r);
    }
    const removed = known.names().filter((name) => !ks.resources.has(name));
    for (const name of asked) if (!ks.resources.has(name) && !known.has(name)) removed.push(name);
    // A fresh wildcard subscription is answered even when empty, so the proxy finishes its initial fetch.
    const announce = t.nonce === undefined && t.wildcard && known.size === 0;
    if (changed.length === 0 && removed.length === 0 && !announce) {
      // A resumed proxy that already holds our versions is in sync, not waiting for a first response.
      if (t.nonce === undefined && known.size > 0) t.recordResumed(ks.version, Date.now());
      // Nothing to send: the proxy holds every subscribed resource at its version already.
      const holding = this.#holding(kind, ks, t);
      t.holdShared(holding);
      known.holdExactly(holding);
      return;
    }
    removed.sort();
    const frame = (nonce: string): Buffer =>
      frameDeltaResponse({ systemVersionInfo: ks.version, typeUrl: TYPE_URL[kind], nonce, controlPlane: this.ctx.controlPlane }, changed, removed);
    let response: SharedResponse;
    if (this.identity.proxyClass.flavor === 'agent') {
      // An agent's class is its own node's: no other stream asks the same of its snapshot, so its
      // responses are not kept for sharing. Kept, each agent's latest (its whole set after it
      // connects) stayed in the memo as long as its snapshot: one more copy of every assignment.
      const nonce = this.nextNonce();
      response = new SharedResponse(frame(nonce), nonce);
    } else {
      // Streams that hold the same versions get the same answer: one response, encoded once, shared.
      // Removed names may be names the client made up, of any character: namesKey keeps them apart.
      let key = `${this.ctx.controlPlane ?? ''}\u0000${namesKey(removed)}\u0000`;
      for (const r of changed) key += `${r.name}@${r.version}\n`;
      response = sharedFrame(ks, key, t.nonce, frame, this.memos.responses);
    }
    const nonce = response.nonce;
    this.send(response);
    this.recordSent(kind, t, nonce, ks.version, changed.length + removed.length);
    // What was sent changed, what was not it held already, what it held that `ks` lacks was removed.
    const holding = this.#holding(kind, ks, t);
    t.holdShared(holding);
    known.holdExactly(holding);
    if (kind === 'endpoint') {
      this.#lastEds = changed;
      // Sent again, they are no longer the NACKed response's: a NACK of this one marks them anew,
      // an ACK leaves them held and good (a version once rejected may come back and be accepted).
      for (const r of changed) this.#rejectedEds.delete(r.name);
    }
    if (this.debug) this.log.debug({ kind, version: ks.version, nonce, resources: changed.length, removed: removed.length }, 'sent');
    // Cluster warming is Envoy's: a gRPC client keeps the endpoints it holds.
    if (kind === 'cluster' && this.identity.proxyClass.flavor !== 'grpc') {
      const eds = this.types.get('endpoint');
      if (eds?.initialized) {
        // Not the endpoints of a NACKed response, while the proxy is deemed to hold them: resent to a
        // re-warming cluster, Envoy rejects them again and the cluster comes up with no endpoint at
        // all, where left out it takes its last good ones after initial_fetch_timeout. The others
        // are resent even right after a NACK, so their clusters do not wait for that timeout.
        const edsKnown = this.#knownOf('endpoint');
        const rejected = (n: string): boolean => this.#rejectedEds.has(n) && this.#rejectedEds.get(n) === edsKnown.get(n);
        const rewarm = new Set(changed.flatMap((c) => c.references).filter((n) => edsKnown.has(n) && !rejected(n)));
        if (rewarm.size > 0) this.#push('endpoint', rewarm, NONE);
      } else {
        // EDS not asked yet on this stream (a reconnect: CDS answered before the EDS request came).
        // Its first request may say it holds these endpoints (initial_resource_versions), yet the
        // clusters just sent wait for them again: they are resent then. Kept to names the snapshot
        // serves, so a stream that never asks EDS holds no more than that.
        const endpoints = snap.kinds.endpoint.resources;
        for (const name of this.#rewarmOnFirstEds) if (!endpoints.has(name)) this.#rewarmOnFirstEds.delete(name);
        for (const c of changed) for (const n of c.references) if (endpoints.has(n)) this.#rewarmOnFirstEds.add(n);
      }
    }
  }
}
