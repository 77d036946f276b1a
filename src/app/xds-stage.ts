/**
 * The xDS stage of `keyway serve` (docs/architecture.md "The pipeline": translator, snapshot cache
 * and xDS server put together): every published view is translated per proxy class into the
 * snapshot cache, built in slices that yield to the event loop and pushed once all of it is built
 * (docs/ownership.md "Cost"; the sources' debounce is the only one on the way, see
 * docs/architecture.md "One data path"; gRPC classes pass the make-before-break stager, docs/xds.md), and an xDS server serves Envoy and proxyless gRPC
 * clients, and cache nodes' ownership agents (their shard assignments and warm reports, docs/ownership.md). The server is the proxy-status reader behind `GET /v1/proxies` and
 * `GET /debug/config_dump`; pushes, NACKs, proxies and convergence feed the metrics. A proxy class
 * whose latest snapshot the cache refused shows as degraded (`snapshot_rejected`, docs/security.md
 * "Honest state") until a later one for it is accepted.
 */
import type { Logger } from 'pino';
import type { RejectedSnapshot } from '../core/health.js';
import type { ServingReader, ServingView } from '../core/serving.js';
import { compareStrings } from '../core/order.js';
import { MAX_TIMER_MS } from '../core/limits.js';
import { endpointIds } from '../core/shard-map.js';
import type { ServeStage, StageContext, StartedStage } from '../core/stage.js';
import type { KeywayMetrics } from '../telemetry/index.js';
import { inconsistentSnapshot, SnapshotCache, type BuildFn, type ConsistencyCheck, type RebuildReport } from '../xds/cache/index.js';
import { pushLogLine } from './push-log.js';
import { pushTelemetry } from './push-telemetry.js';
import { StandingWarnings } from './standing-warnings.js';
import { translationWarning } from './topology-warnings.js';
import { startXdsServer, type XdsServer, type XdsServerEvents, type XdsTlsSettings } from '../xds/server/index.js';
import { checkConsistency, effectiveProxyClass, routeConfigName, translateWithWarnings } from '../xds/translator/index.js';
import type { RouteShape } from '../core/settings.js';
import { proxyClassKey, type ProxyClass, type ResourceSet } from '../xds/resources.js';
import { xdsStreamLimitsFromEnv, type XdsStreamLimits } from '../xds/server/stream-limits.js';
import { FormerRouteNames } from './former-route-names.js';
import { GrpcStager, grpcStageTimeoutFromEnv } from './grpc-stager.js';
import { grpcClassSynced, listenedRoutes } from './grpc-stage-sync.js';

export interface XdsStageOptions {
  /** Where push, NACK, connected-proxy and convergence metrics go (shared with the telemetry stage). */
  readonly metrics?: KeywayMetrics;
  /** ControlPlane.identifier in every response (e.g. the pod name); default none. */
  readonly controlPlaneId?: string;
  /** Bound on one change's wait for ACKs, for its trace and convergence (default 30 s). */
  readonly changeTimeoutMs?: number;
  /** Per-stream xDS limits; default: DEFAULT_XDS_STREAM_LIMITS with the KEYWAY_XDS_* environment overrides. */
  readonly streamLimits?: Partial<XdsStreamLimits>;
  /** TLS or mTLS for the xDS port (`keyway serve --xds-tls-*`, docs/security.md); absent: plaintext. */
  readonly tls?: XdsTlsSettings;
  /**
   * Make-before-break for stock gRPC clients (docs/xds.md): bound on each phase's wait for their
   * ACKs, ms; 0 turns it off. Default: KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS, else 5000.
   */
  readonly grpcStageTimeoutMs?: number;
  /** How long a node's last closed stream may take to reopen before its warm-ups count as lost, ms (default AGENT_RECONNECT_GRACE_MS). */
  readonly agentReconnectGraceMs?: number;
  /** What a snapshot must satisfy to be served; default the translator's `checkConsistency` (tests pass a stricter one). */
  readonly checkConsistency?: ConsistencyCheck;
  /**
   * How long each slice of a change's snapshot builds may hold the event loop before it yields, ms
   * (default DEFAULT_REBUILD_SLICE_MS, 10; docs/ownership.md "Cost"). 0 yields after every class.
   * Not finite or negative: the start fails with a TypeError naming it.
   */
  readonly rebuildSliceMs?: number;
  /**
   * How long a former route name stays served once no stream subscribes to it over RDS, ms
   * (docs/xds.md "A renamed service"); default FORMER_ROUTE_GRACE_MS (60 s). Not finite or
   * negative: the start fails with a TypeError naming it.
   */
  readonly formerRouteGraceMs?: number;
  /** The clock of the translator warnings' reminder (WARNING_REMINDER_MS in standing-warnings.ts), ms; default the monotonic clock (tests pass their own). */
  readonly now?: () => number;
}

/**
 * A node whose last stream closed has this long to open one again before the moves warming on it
 * flip as `agent-lost` (docs/ownership.md). keyway ages out every connection (docs/security.md
 * "xDS streams", 30 min by default), and the agent reconnects within its backoff (from 250 ms), so
 * without a grace each age-out would flip that node's long warm-ups cold.
 */
export const AGENT_RECONNECT_GRACE_MS = 2000;

/** The running stage, as tests see it. */
export interface RunningXds extends StartedStage {
  readonly server: XdsServer;
  readonly cache: SnapshotCache;
}

/**
 * The xDS stage: pass it in `ServeOptions.stages`. It binds `ctx.xdsPort` on `ctx.host` (0 picks
 * a free port, reported as `listening.xdsPort`).
 */
export function xdsStage(opts: XdsStageOptions = {}): ServeStage {
  return { name: 'xds', start: (ctx) => startXdsStage(ctx, opts) };
}

/** Starts the stage; exported for tests that want the server and cache. */
export async function startXdsStage(ctx: StageContext, opts: XdsStageOptions = {}): Promise<RunningXds> {
  const { state, logger } = ctx;
  // A code option (no flag or variable sets it): NaN never yields (the slice never ends, the whole
  // change holds the event loop) and a negative number would quietly mean 0.
  if (opts.rebuildSliceMs !== undefined && !(Number.isFinite(opts.rebuildSliceMs) && opts.rebuildSliceMs >= 0)) {
    throw new TypeError(`xdsStage: rebuildSliceMs must be a finite number of ms >= 0 (0 yields after every class), got ${String(opts.rebuildSliceMs)}`);
  }
  if (opts.formerRouteGraceMs !== undefined && !(Number.isFinite(opts.formerRouteGraceMs) && opts.formerRouteGraceMs >= 0)) {
    throw new TypeError(`xdsStage: formerRouteGraceMs must be a finite number of ms >= 0, got ${String(opts.formerRouteGraceMs)}`);
  }
  const first = state.current();
  if (!first) throw new Error('the xDS stage starts after the first shard map is published');

  // The view translated by the cache; moves forward only when a push runs, so a proxy class built
  // in between (first use) matches the classes already served.
  let served: ServingView = first;
  let latest: ServingView = first;
  const warnings = warningLog(logger, opts.now ?? (() => performance.now()));
  const grpcStageTimeoutMs = opts.grpcStageTimeoutMs ?? grpcStageTimeoutFromEnv(process.env);
  // One translation per class and view: a make-before-break phase rebuilds with the same view, and
  // the stager tells a new change from a phase by the identity of the translator's set. The view
  // being built ahead (`push`) keeps its own sets beside the served view's, so the rebuild that
  // serves it finds the very sets the cache encoded ahead.
  let translations = new Map<ServingView, Map<string, Translation>>([[served, new Map()]]);
  // Envoy's routes under the names a `service` rename left behind (former-route-names.ts).
  const formerRoutes = new FormerRouteNames(logger, opts.formerRouteGraceMs !== undefined ? { graceMs: opts.formerRouteGraceMs } : {});
  formerRoutes.served(routeConfigName(served.topology.xds.service));
  const translateFor = (view: ServingView, proxyClass: ProxyClass): ResourceSet => {
    let sets = translations.get(view);
    if (!sets) translations.set(view, (sets = new Map()));
    const key = proxyClassKey(proxyClass);
    let entry = sets.get(key);
    if (!entry) {
      const t = translateWithWarnings({ shardMap: view.map, topology: view.topology, handoff: view.handoff }, proxyClass);
      warnings.report(view, t.warnings);
      const envoy = proxyClass.flavor === 'envoy';
      sets.set(key, (entry = { raw: t.resources, set: envoy ? formerRoutes.withAliases(t.resources) : t.resources, generation: envoy ? formerRoutes.generation : undefined }));
    } else if (entry.generation !== undefined && entry.generation !== formerRoutes.generation) {
      // A former name learned (or a rename served) since: the aliases again, and a new set only if
      // they differ, as the stager tells a change by the set's identity and the cache skips the same set.
      const again = formerRoutes.withAliases(entry.raw);
      if (again.route.map((r) => r.name).join('\n') !== entry.set.route.map((r) => r.name).join('\n')) entry.set = again;
      entry.generation = formerRoutes.generation;
    }
    return entry.set;
  };
  const translateClass = (proxyClass: ProxyClass): ResourceSet => translateFor(served, proxyClass);
  // The stager needs the cache and the server, made below; the cache builds only once they exist.
  const staging: { stager?: GrpcStager } = {};
  const check = onceChecked(opts.checkConsistency ?? ((set) => checkConsistency(set, { aliasRoutes: formerRoutes.aliasNames(set) })));
  const build: BuildFn = (proxyClass) => {
    const set = translateClass(proxyClass);
    if (!staging.stager) return set;
    const staged = stagedSet(staging.stager, proxyClass, set, check);
    // A phase's routes may be the set's before the change, without a former name learned since.
    return staged !== set && proxyClass.flavor === 'envoy' ? formerRoutes.withMissingAliases(staged) : staged;
  };
  // Classes are bounded by the served view's topology (docs/security.md "xDS streams"); one input
  // object per view, so what the topology knows is computed once per view.
  let classInput = { view: served, input: { shardMap: served.map, handoff: served.handoff } };
  const servedClass = (c: ProxyClass): ProxyClass => {
    if (classInput.view !== served) classInput = { view: served, input: { shardMap: served.map, handoff: served.handoff } };
    return effectiveProxyClass(c, classInput.input);
  };
  const cache = new SnapshotCache({ build, checkConsistency: check, servedClass, logger });
  const rejections = rejectedSnapshots(cache);

  let server: XdsServer | undefined;
  /** Nodes whose last stream closed, each with the timer that ends their warm-ups unless they reconnect. */
  const gone = new Map<string, NodeJS.Timeout>();
  /** Open ownership-agent streams (ids): a closed one puts its node in `graceAgents`. */
  const agentStreams = new Set<string>();
  /**
   * Agent nodes within their reconnect grace: still warmers to the handoff planner (`nodeIds`
   * below), which reads them at every step, so a step planned during the gap (a reload, another
   * node's warm report) does not flip their moves as `agent-lost`.
   */
  const graceAgents = new Set<string>();
  let stopping = false;
  const telemetry = pushTelemetry({
    logger,
    connected: (nodeId) => server?.connected(nodeId) ?? false,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.changeTimeoutMs !== undefined ? { timeoutMs: opts.changeTimeoutMs } : {}),
  });
  // Views published while the server starts (the runner's queue keeps applying inputs meanwhile)
  // are pushed once it listens: subscribed only after the start, such a view was never served.
  let listening = false;
  let scheduled: NodeJS.Immediate | undefined;
  /** The rebuild that serves a former route name just learned from a proxy's RDS subscription. */
  let relearned: NodeJS.Immediate | undefined;
  // The one timer of the former route names' grace (former-route-names.ts), set for the earliest
  // check (`armExpiry`, once listening): no pass over streams, at most MAX_FORMER_ROUTE_NAMES + 1
  // names looked at when it fires.
  let expiry: { readonly timer: NodeJS.Timeout; readonly at: number } | undefined;
  const unsubscribe = state.onShardMap((view) => {
    latest = view;
    telemetry.published(view, sourceKind(state));
    if (listening) scheduled ??= setImmediate(push);
  });
  try {
    server = await startXdsServer({
      cache,
      port: ctx.xdsPort,
      host: ctx.host,
      logger,
      events: withStreamsGone(
        withFormerRoutes(
          withAnswers(telemetry.events, () => staging.stager?.check(), (nodeId) => midChange(staging.stager, server, nodeId)),
          (proxyClass, names) => {
            const snapshot = cache.snapshot(proxyClass);
            // `listened` read when asked: a name the bound refused is tried again later (`expire`).
            const asking = {
              flavor: proxyClass.flavor,
              get listened(): ReadonlySet<string> {
                const now = cache.snapshot(proxyClass);
                return now ? listenedRoutes(now) : new Set<string>();
              },
            };
            if (stopping || !snapshot || !formerRoutes.learn(asking, names)) return;
            armExpiry();
            // Served from the next turn (a subscription change is answered after its hold-off, so
            // usually with the alias already in): the callback runs on the stream's request path.
            relearned ??= setImmediate(() => {
              relearned = undefined;
              if (!stopping) rebuild(served);
            });
          },
          // A former name's last subscriber gone: dropped after the grace unless asked for again.
          (name) => {
            if (!stopping && formerRoutes.released(name)) armExpiry();
          },
        ),
        agentStreams,
        (nodeId, agent) => {
          // A node's last stream gone: moves waiting for its warm report cannot get one now, unless
          // it reconnects within the grace (an aged-out connection, a replaced channel).
          if (stopping || server?.connected(nodeId)) return;
          // Its warm reports no longer count: a flip tick within the grace would flip a node that
          // restarted cold (docs/ownership.md "Two-phase moves"); a reconnected agent reports again.
          if (agent) ctx.warm?.ownershipStreamEnded?.(nodeId);
          if (agent) graceAgents.add(nodeId);
          // Closed again after a reconnect: the grace counts from this close.
          const pending = gone.get(nodeId);
          if (pending) return void pending.refresh();
          const timer = setTimeout(() => {
            gone.delete(nodeId);
            graceAgents.delete(nodeId);
            if (!server?.connected(nodeId)) ctx.warm?.ownershipStreamClosed?.(nodeId);
          }, opts.agentReconnectGraceMs ?? AGENT_RECONNECT_GRACE_MS);
          timer.unref();
          gone.set(nodeId, timer);
        },
      ),
      // Warm reports (docs/ownership.md) go to the runner's planner; shards are checked against the latest view.
      warm: ctx.warm,
      load: ctx.load,
      shardCount: () => latest.map.policy.shardCount,
      isEndpoint: (nodeId) => endpointIds(latest.map).has(nodeId),
      limits: opts.streamLimits ?? xdsStreamLimitsFromEnv(process.env),
      ...(opts.controlPlaneId !== undefined ? { controlPlaneId: opts.controlPlaneId } : {}),
      ...(opts.tls ? { tls: opts.tls } : {}),
    });
  } catch (err) {
    unsubscribe();
    telemetry.close();
    throw err;
  }
  const xds = server;
  const grpcStager = new GrpcStager({
    timeoutMs: grpcStageTimeoutMs,
    logger,
    // A route configuration no listener of the snapshot names is an alias (the consistency check
    // refuses any other), whatever the names in force: a phase staged from the set before a rename
    // keeps the listener it had, and the aliases of that set, the one a fifth rename drops included.
    synced: (classKey) => grpcClassSynced(withoutAliasOnlyHolders(xds, formerRoutes), cache, classKey, (name, snapshot) => !listenedRoutes(snapshot).has(name)),
    rebuild: () => rebuild(served),
  });
  staging.stager = grpcStager;

  function armExpiry(): void {
    const at = formerRoutes.nextCheck();
    if (expiry && (at === undefined || at < expiry.at)) {
      clearTimeout(expiry.timer);
      expiry = undefined;
    }
    // A later check than the timer's: the timer fires first, finds nothing due, and sets the next.
    if (stopping || !listening || at === undefined || expiry) return;
    // Capped: Node fires a longer delay after 1 ms (a grace past 24.8 days set a 1 ms timer again and
    // again); the timer that fires early finds nothing due and is set again.
    const timer = setTimeout(expire, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - performance.now()))));
    timer.unref();
    expiry = { timer, at };
  }
  function expire(): void {
    expiry = undefined;
    if (stopping) return;
    // Dropped and rebuilt in one turn: a stream that asks for the name after this is told it is
    // unserved by a snapshot without it, and learns it again.
    if (formerRoutes.expire((name) => xds.routeSubscribed(name))) rebuild(served);
    armExpiry();
  }

  const rebuild = (view: ServingView): RebuildReport => {
    const report = cache.rebuild(build);
    rejections.invalidate();
    grpcStager.rebuilt(new Set(report.classes.map((c) => c.classKey)));
    logPush(logger, view, report);
    return report;
  };
  // Pushed on the next turn of the event loop: listeners only schedule work, and views published
  // in one turn (a start-up burst) become one push of the latest. Every class's snapshot of the
  // view is first built ahead in slices that yield to the event loop (a change that moves every
  // shard re-encodes every agent's assignments: docs/ownership.md "Cost"), classes with a
  // make-before-break stager excepted; then one rebuild serves them all in one turn, so no proxy
  // sees part of a change. Views published meanwhile are pushed as one, the latest, after it; the
  // view served keeps its own change (trace, convergence), set aside by `telemetry.building()`.
  let building: ServingView | undefined;
  const serve = (view: ServingView): void => {
    const run = (): RebuildReport => {
      served = view;
      formerRoutes.served(routeConfigName(view.topology.xds.service));
      translations = new Map([[view, translations.get(view) ?? new Map()]]);
      const report = rebuild(view);
      armExpiry();
      return report;
    };
    // Its own change, even when a newer view was published while it was built: that one may change
    // nothing proxies receive, and a push of no response would leave this one untraced.
    telemetry.pushing(run, (report) => report.fanOut);
  };
  const push = (): void => {
    scheduled = undefined;
    if (building) return; // pushed once the view being built is served
    const view = latest;
    const shape = view.topology.xds.envoy.routeShape;
    // The served-class rule of the view being built, so the classes it moves watchers to (the
    // agents of nodes joining the map) are built ahead too; one input object, as `servedClass`.
    const comingInput = { shardMap: view.map, handoff: view.handoff };
    telemetry.building();
    const ahead = cache.prebuild((c) => (builtAhead(c, shape) ? translateFor(view, c) : undefined), {
      ...(opts.rebuildSliceMs !== undefined ? { sliceMs: opts.rebuildSliceMs } : {}),
      cancelled: () => stopping,
      servedClass: (c) => effectiveProxyClass(c, comingInput),
    });
    if (!ahead) return serve(view);
    building = view;
    const start = performance.now();
    void ahead.then(() => {
      building = undefined;
      if (stopping) return;
      logger.debug({ shardMapVersion: view.map.version, ms: Math.round(performance.now() - start) }, 'snapshots built ahead in slices that yield to the event loop; serving them');
      serve(view);
      if (latest !== view) scheduled ??= setImmediate(push);
    });
  };
  listening = true;
  // Checks set by streams before now (a name learned while the start finished).
  armExpiry();
  if (latest !== served) scheduled = setImmediate(push);
  // Each node's flavor and sync statuses, no row built: every /metrics render reads them.
  const stopObserving = opts.metrics?.observeProxies(() => xds.statuses());
  const stopClasses = opts.metrics?.observeProxyClasses(() => cache.classes().map((c) => c.proxyClass));
  // The expiry of the served TLS certificate, for alerts ahead of it (docs/observability.md).
  const stopTlsExpiry = opts.tls ? opts.metrics?.observeXdsTlsCertificate(() => xds.tlsCertificate()) : undefined;
  // Refused snapshots are a degraded reason (docs/security.md "Honest state"): `/readyz` and
  // `keyway_degraded` read them from the serving state.
  const stopRejections = canReportSnapshots(state) ? state.observeSnapshotRejections(rejections.read) : undefined;

  let closing: Promise<void> | undefined;
  return {
    server: xds,
    cache,
    readers: {
      proxies: {
        proxies: (o) => xds.proxies(o),
        // What /readyz reads: the NACKing nodes alone, no row per proxy.
        nacking: () => xds.nacking(),
        proxy: (nodeId, o) => xds.proxy(nodeId, o),
        configDump: (nodeId) => xds.configDump(nodeId),
        // The handoff planner's warmers: agents within their reconnect grace count as connected.
        nodeIds: (flavor) => (flavor !== 'agent' || graceAgents.size === 0 ? xds.nodeIds(flavor) : new Set([...xds.nodeIds(flavor), ...graceAgents])),
      },
    },
    listening: { xdsPort: xds.port },
    close() {
      closing ??= (async () => {
        stopping = true;
        unsubscribe();
        if (scheduled) clearImmediate(scheduled);
        if (relearned) clearImmediate(relearned);
        if (expiry) clearTimeout(expiry.timer);
        expiry = undefined;
        stopObserving?.();
        stopClasses?.();
        stopTlsExpiry?.();
        stopRejections?.();
        telemetry.close();
        grpcStager.close();
        await xds.close();
        for (const timer of gone.values()) clearTimeout(timer);
        gone.clear();
        graceAgents.clear();
      })();
      return closing;
    },
  };
}

/** One class's translation of a view: as translated, and as served (Envoy: with the aliases of `generation`). */
interface Translation {
  readonly raw: ResourceSet;
  set: ResourceSet;
  /** FormerRouteNames.generation when `set` was made; undefined for a set that takes no alias (not Envoy). */
  generation: number | undefined;
}

/**
 * `events`, also handing `learn` the route configurations a stream asks for that its class's
 * snapshot does not hold (docs/xds.md "A renamed service": names a former keyway process served),
 * and `released` each route name no stream subscribes to any more (the start of a former name's grace).
 */
function withFormerRoutes(events: XdsServerEvents, learn: (proxyClass: ProxyClass, names: readonly string[]) => void, released: (name: string) => void): XdsServerEvents {
  return {
    ...events,
    unservedRoutes: (e) => {
      events.unservedRoutes?.(e);
      learn(e.proxyClass, e.names);
    },
    routeReleased: (e) => {
      events.routeReleased?.(e);
      released(e.name);
    },
  };
}

/**
 * `server`'s holders of a class (make-before-break's wait, grpc-stage-sync.ts) less those whose
 * route configurations are all aliases (docs/xds.md "A renamed service"): an Envoy that asks only
 * for a former name (a listener it kept, static or the new one rejected) can never hold the class's
 * own routes, so each phase of its class ran out its bound; a phase does not wait for an alias.
 */
function withoutAliasOnlyHolders(server: Pick<XdsServer, 'heldByClass'>, former: FormerRouteNames): Pick<XdsServer, 'heldByClass'> {
  return {
    *heldByClass(classKey) {
      for (const held of server.heldByClass(classKey)) {
        // Asked on every ACK of a phase, for every client of the class: no array per client.
        let ownRoutes = false;
        const routes = held('route')?.sent;
        if (routes) for (const r of routes.values()) if (!former.isAlias(r.message)) ownRoutes = true;
        if (routes && routes.size > 0 && !ownRoutes) continue;
        yield held;
      }
    },
  };
}

/** A serving state that takes the cache's refused snapshots (src/app/serving-state.ts). */
interface SnapshotRejectionSink {
  observeSnapshotRejections(read: () => readonly RejectedSnapshot[]): () => void;
}

function canReportSnapshots(state: ServingReader): state is ServingReader & SnapshotRejectionSink {
  return typeof (state as Partial<SnapshotRejectionSink>).observeSnapshotRejections === 'function';
}

/**
 * The watched classes whose latest snapshot `cache` refused, in class order. Every kubelet, web
 * view and client polls `/readyz` and a pass over the classes grows with the agents (one class
 * each), so a pass is reused for ten times what it took (as the proxies' part of `/readyz` is),
 * and read afresh after each rebuild.
 */
export function rejectedSnapshots(cache: SnapshotCache): { read(): readonly RejectedSnapshot[]; invalidate(): void } {
  let cached: readonly RejectedSnapshot[] = [];
  let validUntil = -Infinity;
  return {
    read: () => {
      const start = performance.now();
      if (start < validUntil) return cached;
      cached = cache
        .classes()
        .filter((c) => c.lastError !== undefined && c.watchers > 0)
        .sort((a, b) => compareStrings(a.classKey, b.classKey))
        .map((c) => ({ classKey: c.classKey, message: refusal(c.classKey, c.lastError!), ...(c.snapshot ? { kept: c.snapshot.version } : {}) }));
      const end = performance.now();
      validUntil = end + 10 * (end - start);
      return cached;
    },
    invalidate: () => {
      validUntil = -Infinity;
    },
  };
}

/** Why `classKey` was refused, without the class named again (the reason names it, and quotes a bounded part). */
function refusal(classKey: string, err: Error): string {
  const prefix = `snapshot[${classKey}]: snapshot for proxy class ${classKey} rejected: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

/**
 * `events`, also calling `onGone` with the node of every closed stream and whether it was an
 * ownership agent's (`agentStreams` holds the ids of those open: the registry has forgotten the
 * stream by the time it is closed).
 */
function withStreamsGone(events: XdsServerEvents, agentStreams: Set<string>, onGone: (nodeId: string, agent: boolean) => void): XdsServerEvents {
  return {
    ...events,
    opened: (e) => {
      events.opened?.(e);
      if (e.flavor === 'agent') agentStreams.add(e.streamId);
    },
    closed: (e) => {
      events.closed?.(e);
      onGone(e.nodeId, agentStreams.delete(e.streamId));
    },
  };
}

/**
 * What the snapshot cache serves a class (docs/xds.md "Make-before-break for stock gRPC clients"):
 * the stager's phase of `set` where routes and clusters may change together (stock gRPC classes,
 * and Envoy with either route shape: the route-table shape at every change of owners, the subset
 * shape when a reload switches the shape or renames its one cluster's service), else `set`. A
 * shard-picker class keeps one cluster (only its owner table changes), so it has nothing to stage
 * (its class key differs from the stock class's: one never turns into the other).
 * @throws KeywayError SNAPSHOT_INCONSISTENT when `check` refuses `set`, before the stager sees it:
 * the stager takes what it returns as served, and a change starting from a set the cache refused
 * (its clients still hold the one before) would skip the staging of clusters they never got.
 */
export function stagedSet(stager: GrpcStager, proxyClass: ProxyClass, set: ResourceSet, check?: ConsistencyCheck): ResourceSet {
  if (!isStaged(proxyClass)) return set;
  const problems = check?.(set) ?? [];
  if (problems.length > 0) throw inconsistentSnapshot(proxyClass, problems);
  return stager.build(proxyClassKey(proxyClass), set);
}

/** Does `proxyClass` go through the make-before-break stager (stock gRPC, and Envoy)? */
function isStaged(proxyClass: ProxyClass): boolean {
  return proxyClass.flavor === 'grpc' ? !proxyClass.picker : proxyClass.flavor === 'envoy';
}

/**
 * Is `proxyClass`'s snapshot built ahead of a push under `routeShape`? Not a staged class's whose
 * set changes its clusters at most changes (a stock gRPC class, Envoy's route table): the stager
 * hands back a staged set, not the one built ahead. Envoy's subset shape keeps one cluster, so the
 * stager hands back the translated set itself (the one built ahead) but for a shape switch or a
 * rename; its translation grows with the shards, the slow one to build in the push's turn.
 */
function builtAhead(proxyClass: ProxyClass, routeShape: RouteShape): boolean {
  return !isStaged(proxyClass) || (proxyClass.flavor === 'envoy' && routeShape === 'subset');
}

/**
 * `check`, run once per set object: a staged class's translated set is checked before the stager
 * takes it, and again by the cache when the stager hands it back as it is (resource sets are not
 * changed once built).
 */
export function onceChecked(check: ConsistencyCheck): ConsistencyCheck {
  const passed = new WeakSet<ResourceSet>();
  return (set) => {
    if (passed.has(set)) return [];
    const problems = check(set);
    if (problems.length === 0) passed.add(set);
    return problems;
  };
}

/** `events`, also calling `onAnswer` on every ACK, NACK and closed stream (a staged change may wait for one). */
function withAnswers(events: XdsServerEvents, onAnswer: () => void, midChange: (nodeId: string) => boolean): XdsServerEvents {
  return {
    ...events,
    acked: (e) => {
      // A gRPC client ACKing a staged set holds the new clusters, not yet the routes that use them:
      // its change has not converged until it ACKs the translator's own set.
      events.acked?.(midChange(e.nodeId) ? { ...e, complete: false } : e);
      onAnswer();
    },
    nacked: (e) => {
      events.nacked?.(e);
      onAnswer();
    },
    closed: (e) => {
      events.closed?.(e);
      onAnswer();
    },
  };
}

/** Is `nodeId` served a gRPC class whose make-before-break change is still in progress? */
function midChange(stager: GrpcStager | undefined, server: XdsServer | undefined, nodeId: string): boolean {
  const changing = stager?.inProgress() ?? [];
  if (changing.length === 0) return false;
  const classKey = server?.proxy(nodeId)?.proxyClass;
  return classKey !== undefined && changing.some((c) => c.classKey === classKey);
}

/**
 * The translator's warnings in the log (docs/observability.md "Logs"), as standing warnings: every
 * proxy class repeats a view's warnings, and the served view and the one built ahead are translated
 * in turns, so views are numbered (rounds) in the order of their first translation.
 */
function warningLog(logger: Logger, now: () => number): { report(view: ServingView, warnings: readonly string[]): void } {
  const rounds = new WeakMap<ServingView, number>();
  const standing = new StandingWarnings(logger, { message: translationWarning, keyOf: warningKey, now });
  return {
    // Called for every translation, warnings or none, so a view without a warning ends it.
    report(view, warnings) {
      let n = rounds.get(view);
      if (n === undefined) rounds.set(view, (n = standing.nextRound()));
      standing.report(n, warnings, { shardMapVersion: view.map.version });
    },
  };
}

/**
 * What makes two warnings one: the text with its measures masked (a byte count, a count of
 * endpoints, shards or owners, the heaviest weight), so a figure that moves with each map does not
 * log the warning again. Every other figure is kept, names above all: `gpu-3`, `10.0.0.1:8080`,
 * `shard 12:`, and an id made of digits (`endpoint 7 shares address ...`), which a mask of every
 * free-standing figure made one warning with any other endpoint's, so the second was never logged.
 * A measure a new warning adds and this misses logs it again at a change, never hides one.
 */
function warningKey(text: string): string {
  return text.replace(/(^|[\s(])\d+(?:\.\d+)?(?=\s(?:serving endpoints|others|bytes|shards|owners)\b|\))/g, '$1#');
}

function logPush(logger: Logger, view: ServingView, report: RebuildReport): void {
  const line = pushLogLine(report);
  logger[line.level]({ shardMapVersion: view.map.version, ...line.fields }, line.msg);
}

/** The source behind the change, for its trace: Kubernetes when it feeds the map, else the file. */
function sourceKind(state: ServingReader): string {
  return state.sources().some((s) => s.kind === 'kubernetes') ? 'kubernetes' : 'file';
}
