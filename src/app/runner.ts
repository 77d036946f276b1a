/**
 * The runner of `keyway serve` (docs/architecture.md "The composition root" and "One data path"):
 * switches between the endpoint sources, feeds what they report to the sharding stage, publishes
 * each shard map to the serving state, starts the later stages and the admin API over their readers.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { type Logger, pino } from 'pino';
import { buildAdminApp } from '../admin/app.js';
import { isLoopbackHost } from '../admin/loopback-host.js';
import { type KeywayConfig, settingsWarnings } from '../config/index.js';
import type { Endpoint } from '../core/endpoint.js';
import type { HotShardDecision, LoadSnapshotReader } from '../core/load.js';
import { KeywayError } from '../core/errors.js';
import type { ChangeCause } from '../core/serving.js';
import type { ShardMap } from '../core/shard-map.js';
import type { ServeStage, StartedStage } from '../core/stage.js';
import { applyHotShards, diffShardMaps, hotShardChanges, HotShardDecider, NO_HOT_SHARDS, planShardMap } from '../sharding/index.js';
import type { HandoffStep } from '../sharding/handoff.js';
import type { DebounceOptions } from '../sources/debounce.js';
import { FileSource } from '../sources/file/index.js';
import { EndpointSources, type KubernetesSourceFactory } from './endpoint-sources.js';
import { HandoffDriver } from './handoff-driver.js';
import { LoadDriver, loadSignalSettings } from './load-driver.js';
import { isWorkerFailure, pipelineWorker } from './pipeline-worker.js';
import { type PipelineStep, ServingState } from './serving-state.js';
import { StandingWarnings } from './standing-warnings.js';

export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_XDS_PORT = 18000;
/**
 * How long a shutdown waits for REST requests under way, as the xDS server waits for its streams
 * (README "SIGTERM"): then every admin connection is closed. Without it a client that never
 * finishes its request held the shutdown for ever (Node stops timing requests out once closing,
 * and fastify closes only idle connections).
 */
export const ADMIN_SHUTDOWN_GRACE_MS = 2_000;

/**
 * The first wait before a computation the pipeline worker failed (the thread crashed or ran out of
 * memory: not the input's fault) runs again on the inputs in force, doubled on each failure in a
 * row up to {@link COMPUTE_RETRY_MAX_MS}. Without it the previous map stayed until the next input,
 * which a stable cluster may not send for hours, and a reloaded file is already in force: SIGHUP
 * re-read nothing new.
 */
export const COMPUTE_RETRY_MS = 1000;
export const COMPUTE_RETRY_MAX_MS = 30_000;

export type { KubernetesSourceFactory } from './endpoint-sources.js';

export interface ServeOptions {
  /** Path of the topology file. */
  readonly configFile: string;
  /** Admin REST port. Default 8080; 0 picks a free port (see {@link RunningServer.httpPort}). */
  readonly httpPort?: number;
  /** Passed to the stages (the xDS server). Default 18000. */
  readonly xdsPort?: number;
  /** Interface to bind. Default `0.0.0.0` (probes from outside the pod must reach it). */
  readonly host?: string;
  /** Interface the admin REST API binds (`--admin-host`). Default: `host`. */
  readonly adminHost?: string;
  /** Bearer token for `/v1` and `/debug` (docs/security.md "The admin API"); absent: open. */
  readonly adminToken?: string;
  readonly logger?: Logger;
  /** Later pipeline stages, started in order after the first shard map exists. */
  readonly stages?: readonly ServeStage[];
  /** Required when the topology file has a `kubernetes:` section. */
  readonly kubernetesSource?: KubernetesSourceFactory;
  /**
   * Load snapshots for the hot-shard policy (docs/hot-shards.md): the topology's
   * `hotShards.snapshot` source, or snapshots a test feeds. Absent: the topology's source
   * (src/sources/load: the reports this replica received, or Prometheus).
   */
  readonly loadSnapshots?: LoadSnapshotReader;
  /** File watching knobs (tests shorten them). */
  readonly fileWatch?: { readonly debounce?: DebounceOptions; readonly pollIntervalMs?: number };
}

export interface RunningServer {
  readonly state: ServingState;
  readonly admin: FastifyInstance;
  /** The bound admin port (useful with `httpPort: 0`). */
  readonly httpPort: number;
  /** Every bound port: `httpPort` plus what the stages report (`xdsPort`). */
  readonly listening: Readonly<Record<string, number>>;
  /** Re-reads the topology file now (SIGHUP). */
  reload(): Promise<void>;
  /** Stops the admin server, the stages and the sources, in that order. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts keyway. Resolves once the first shard map is published and every server listens.
 * @throws KeywayErrors when the topology file is invalid (nothing is left running).
 */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const log = opts.logger ?? pino({ level: 'silent' });
  const state = new ServingState();
  // Big shard maps and topology files are computed and parsed off the event loop.
  const worker = pipelineWorker();
  const file = new FileSource({
    file: opts.configFile,
    logger: log,
    parse: (text, path) => worker.parseConfig(text, path),
    ...opts.fileWatch,
  });
  try {
    await file.start();
  } catch (err) {
    await worker.close(); // a big file may have started the thread
    throw err;
  }

  // The inputs in force, as the sources delivered them: the runner never pulls again what a source
  // just pushed to it.
  let config = file.config();
  /**
   * The topology file whose shard map is in force: `config` once a map of it is computed. A valid
   * file whose map cannot be (Kubernetes endpoints past the work budget) keeps the previous map and
   * so the previous settings too: applied alone, its xDS settings reached proxies with the next
   * handoff or load step, and its `shards` made the load signal drop the windows of the S still in
   * force, then read windows of that S for the new map when one was computed later.
   */
  let served = config;
  let endpoints: readonly Endpoint[] = config.topology.endpoints;
  // Costly but valid settings (docs/configuration.md "Warnings"): logged at start, then again only
  // when a reload changes them, not on every map.
  let settingsAdvice: string | undefined;
  const warnSettings = (cfg: KeywayConfig): void => {
    const lines = settingsWarnings(cfg);
    const key = lines.join('\n');
    if (key === settingsAdvice) return;
    settingsAdvice = key;
    for (const w of lines) log.warn(w);
  };
  warnSettings(config);
  // The sharding stage's last plain rendezvous map (its next computation continues from it) and the
  // hot-shard decision applied on top of it to make the target map.
  let plainTarget: ShardMap | undefined;
  let hotShards: HotShardDecision = NO_HOT_SHARDS;
  /**
   * Keeps the policy's replay between windows, so a new window costs one step (docs/hot-shards.md
   * "Hysteresis"). Replaced after a decision that threw: its replay may be half advanced, and
   * dropping it costs only a replay from the anchor.
   */
  let hotShardDecider = new HotShardDecider();
  /** The plain map version the decision in force was made on. */
  let decidedOn: string | undefined;
  /**
   * The `hotShards:` settings (JSON) the decision in force was made under. A reload that changes
   * them re-decides at once under the new ones, a change the churn budget does not pace (like a new
   * plain map): judged against the budget, it was warned of as load history gone missing.
   */
  let decidedWith: string | undefined;
  /** The last computation's map was dropped for a newer topology file (at most once in a row). */
  let supersededLast = false;
  // Load reports (docs/load-reports.md): the ReportLoad sink, and the snapshots the policy reads
  // unless the caller feeds its own.
  const load = new LoadDriver(loadSignalSettings(config), log);
  const loadSnapshots: LoadSnapshotReader = opts.loadSnapshots ?? load;
  const started: StartedStage[] = [];
  let admin: FastifyInstance | undefined;
  let closed = false;
  // Computations begun, worker failures in a row, and the timer of the retry after one (COMPUTE_RETRY_MS).
  let computations = 0;
  let computeFailures = 0;
  // The shard map's warnings (too few zones for the replicas) stand while the topology does: logged
  // when one appears, changes or comes back, and hourly while it stands, not at each endpoint change.
  const shardMapWarnings = new StandingWarnings(log);
  let retryTimer: NodeJS.Timeout | undefined;
  // The start, reloads and endpoint changes are applied one at a time, in arrival order.
  let queue: Promise<void> = Promise.resolve();
  const run = (job: () => Promise<void> | void): Promise<void> => {
    // After close() a late job (a reload that was being parsed) has nothing left to feed.
    const done = queue.then(() => (closed ? undefined : job()));
    queue = done.catch(() => {});
    return done;
  };
  /**
   * Queues a job. `input` jobs (the topology file, endpoints) hold their error until the next input
   * is applied; a later step on the input in force (a load decision, a handoff step) holds its
   * error only until that step next succeeds, so /readyz does not stay degraded until the next
   * input, which may be far away, while the map in force is fine.
   */
  const enqueue = (what: string, job: () => Promise<void> | void, step: Exclude<PipelineStep, 'kubernetes'> = 'input'): void => {
    run(job).then(
      () => {
        if (step !== 'input' && !closed) state.setPipelineError(undefined, step);
      },
      (err: unknown) => {
        if (step === 'input') {
          state.setPipelineError(err as Error);
          log.error({ err }, `applying a ${what} failed; keeping the previous shard map: ${(err as Error).message}`);
        } else {
          stepFailed(step, what, err);
        }
      },
    );
  };
  /** A load decision or a handoff step failed: the map in force stays; the step is tried again (see `enqueue`). */
  const stepFailed = (step: Exclude<PipelineStep, 'input' | 'kubernetes'>, what: string, err: unknown, outcome?: string): void => {
    const cause = err instanceof Error ? err : new Error(String(err));
    const label = step === 'load' ? `the hot-shard decision (${what})` : `the handoff step (${what})`;
    const next = outcome ?? (step === 'load' ? 'keeping the shard map in force, the next load window decides again' : 'keeping the shard map in force, the handoff step is retried');
    const code = cause instanceof KeywayError ? cause.code : 'INTERNAL';
    state.setPipelineError(new KeywayError(code, `${label} failed: ${cause.message}`, {}, { cause }), step);
    log.error({ err: cause, step }, `${label} failed; ${next}: ${cause.message}`);
  };

  // Failures of a source in use count in keyway_source_errors_total.
  const unsubscribeFileErrors = file.onError((err) => state.reportSourceError('file', err));
  const sources = new EndpointSources({
    file,
    logger: log,
    state,
    kubernetesSource: opts.kubernetesSource,
    enqueue: (what, job) => enqueue(what, job),
    onEndpoints: async (reported, event) => {
      endpoints = reported;
      await recompute({ source: 'kubernetes', ...event });
    },
  });
  state.setSourceStatus(() => sources.statuses());

  /**
   * Computes the shard map for the inputs in force and publishes it (the source already decided
   * that something changed: change detection happens once, there), with the event that led here and the computation's timing as the view's `cause`.
   */
  const recompute = async (event: Pick<ChangeCause, 'source' | 'reason' | 'detectedAt'>): Promise<void> => {
    const { reason } = event;
    if (closed) return; // a job under way when close() began: nothing would serve the map
    // This computation takes the inputs in force: a retry of an earlier one has nothing left to do.
    const attempt = ++computations;
    clearTimeout(retryTimer);
    retryTimer = undefined;
    const previous = state.current();
    const filesBefore = fileChanges;
    const computeStartedAt = new Date();
    const t0 = performance.now();
    let target: ShardMap;
    let mode: ChangeCause['mode'];
    try {
      // The sharding stage continues from the target map, not from the routed one. A full
      // computation of a big map runs in a worker thread, so the admin API and xDS keep answering.
      const step = planShardMap(plainTarget ?? previous?.map, endpoints, config.topology.policy);
      mode = step.mode;
      target = step.mode === 'full' ? await worker.computeShardMap(endpoints, config.topology.policy) : step.map;
    } catch (err) {
      if (closed) return; // close() stopped the worker under this computation
      state.setPipelineError(err as Error);
      // A failed worker is no verdict on the input: computed again (at start, the start fails instead).
      const retryMs = previous && isWorkerFailure(err) ? retryComputation(attempt, event) : undefined;
      const kept = previous ? `keeping the previous one${retryMs !== undefined ? `, computing it again in ${retryMs} ms` : ''}` : 'there is none to keep';
      log.error({ err }, `cannot compute a shard map (${reason}); ${kept}: ${(err as Error).message}`);
      return;
    }
    computeFailures = 0;
    if (closed) return;
    // A topology file came while this file's map was computed (in the worker: a full computation
    // takes seconds at the work budget's edge). Its job computes next, from the inputs in force:
    // published, this map would reach every proxy and agent (moves started, warm-ups begun) only to
    // be replaced by that one, for a file no longer on disk, as a queued file that is not the latest
    // is skipped. Only a file's map (or its retry) gives way: an endpoint change's map is what the
    // cluster is now, and if the newer file's map then failed (past the work budget) the change
    // would be lost, the departed nodes routed to until the next input. A start has no map to keep.
    // Once in a row at most: files saved faster than a map computes would otherwise never publish one.
    if (previous && event.source === 'file' && fileChanges !== filesBefore && !supersededLast) {
      supersededLast = true;
      if (fileChangedSince === undefined || event.detectedAt < fileChangedSince) fileChangedSince = event.detectedAt;
      log.info({ reason, mode }, 'a newer topology file arrived while the shard map was computed; that file is applied instead');
      return;
    }
    supersededLast = false;
    // The file's settings apply with its first map (see `served`); a new S drops the load windows
    // counted under the old one before the policy decides on the new map.
    served = config;
    load.reconfigure(loadSignalSettings(served));
    const hot = hotOrPlain(target);
    // The latest input is applied; a publish alone (a flip tick, a load window) does not say so.
    state.setPipelineError(undefined);
    const computeSeconds = (performance.now() - t0) / 1000;
    handoff.plan(hot, { ...event, computeStartedAt, computeSeconds, mode });
    // Only once planned: if planning threw, the load windows keep deciding on the map in force.
    plainTarget = target;
    // Said once the new map is out (a computation that failed changed nothing), whichever
    // computation brings it: the reload's own, a retry of it, or the next endpoint change's.
    warnShardCountChange(log, previous?.map.policy.shardCount, target.policy.shardCount);
    shardMapWarnings.report(shardMapWarnings.nextRound(), target.warnings, { version: target.version });
  };

  /** The computation the worker failed again after a backoff, unless another one ran meanwhile (see COMPUTE_RETRY_MS). */
  const retryComputation = (attempt: number, event: Pick<ChangeCause, 'source' | 'reason' | 'detectedAt'>): number => {
    const wait = Math.min(COMPUTE_RETRY_MAX_MS, COMPUTE_RETRY_MS * 2 ** Math.min(computeFailures, 16));
    computeFailures++;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      enqueue('shard-map retry', () => (attempt === computations ? recompute(event) : undefined));
    }, wait);
    retryTimer.unref();
    return wait;
  };

  /**
   * The hot-shard policy between sharding and the handoff planner (docs/hot-shards.md): the target
   * map is the plain map with the decision for the snapshots in force, so load moves warm before
   * they flip like any other move.
   */
  const withHotShards = (plain: ShardMap): ShardMap => {
    const before = hotShards;
    let target: ShardMap;
    try {
      const decision = hotShardDecider.decide(plain, loadSnapshots.latest(), served.hotShards);
      target = applyHotShards(plain, decision);
      hotShards = decision;
    } catch (err) {
      hotShardDecider = new HotShardDecider();
      throw err;
    }
    // The decision keeps the budget on its own except after a catch-up that a whole replay period
    // could not finish (docs/hot-shards.md "Churn budget"): said here, where the previous one is
    // known. A new plain map, the return to it when load reports stop, and new settings are not
    // policy moves.
    const fromLoad = before.windowStartMs > 0 && hotShards.windowStartMs > 0;
    const settings = JSON.stringify(served.hotShards);
    const resettled = decidedWith !== undefined && settings !== decidedWith;
    const changed = fromLoad && plain.version === decidedOn ? hotShardChanges(before, hotShards) : 0;
    decidedOn = plain.version;
    decidedWith = settings;
    if (resettled) {
      if (changed > 0) {
        log.info(
          { changed, budget: served.hotShards.maxMovesPerWindow },
          'hot shards: new hotShards settings re-decided the map at once (a settings change is not held to the churn budget)',
        );
      }
    } else if (changed > served.hotShards.maxMovesPerWindow) {
      log.warn(
        { changed, budget: served.hotShards.maxMovesPerWindow },
        'hot shards: the decision changed more shards than the churn budget (the load history it replays changed under it: windows missing, or the replay anchor moved before the last catch-up was over)',
      );
    }
    if (hotShards.deferred > 0) {
      log.info({ deferred: hotShards.deferred, budget: served.hotShards.maxMovesPerWindow }, 'hot shards: the churn budget deferred moves to the next window');
    }
    return target;
  };

  /**
   * A new input's target map. When the hot-shard policy throws, the plain map: a failing policy
   * must not hold back endpoint and topology changes (a departed node would keep its shards), and
   * plain rendezvous is what keyway serves without load data anyway. The load error holds until a
   * decision succeeds (the next window's, or the next input's).
   */
  const hotOrPlain = (plain: ShardMap): ShardMap => {
    try {
      const hot = withHotShards(plain);
      state.setPipelineError(undefined, 'load');
      return hot;
    } catch (err) {
      stepFailed('load', 'new shard map', err, 'the new map is applied with plain rendezvous ownership, the next load window decides again');
      hotShards = NO_HOT_SHARDS;
      decidedOn = undefined;
      decidedWith = undefined;
      return plain;
    }
  };

  /** A new load snapshot: re-decides on the plain map in force; publishes only when the target map changes. */
  const onLoadSnapshot = (): void => {
    const detectedAt = new Date();
    enqueue(
      'load snapshot',
      () => {
        const plain = plainTarget;
        if (!plain) return;
        const t0 = performance.now();
        const before = handoff.target()?.version;
        const hot = withHotShards(plain);
        if (hot.version === before) return;
        const computeSeconds = (performance.now() - t0) / 1000;
        handoff.plan(hot, { source: 'load', reason: 'load snapshot changed', detectedAt, computeStartedAt: detectedAt, computeSeconds, mode: 'unchanged' });
      },
      'load',
    );
  };
  const unsubscribeLoad = loadSnapshots.onChange(onLoadSnapshot);

  /** Publishes one handoff step: its routed map is what proxies get (docs/ownership.md). */
  const publishStep = (next: HandoffStep, cause: ChangeCause): void => {
    const previous = state.current();
    const map = next.routed;
    const topology = { ...served.topology, endpoints: map.endpoints };
    const diff = previous ? diffShardMaps(previous.map, map) : undefined;
    // Published whenever load was read (even a decision that changes nothing: its moves count).
    const hot = hotShards.windowStartMs > 0 ? { hotShards } : {};
    // A step planned and published: an earlier failed handoff step no longer holds.
    state.setPipelineError(undefined, 'handoff');
    state.publish({ map, topology, cause, handoff: next.state, ...hot, ...(diff ? { diff } : {}) }, (err) =>
      log.error({ err }, 'a shard-map listener failed'),
    );
    const { transitions, started: begun, completed } = next.state;
    log.info(
      {
        version: map.version,
        targetVersion: next.state.target.version,
        mode: cause.mode,
        reason: cause.reason,
        computeSeconds: cause.computeSeconds,
        endpoints: map.endpoints.length,
        movedShards: diff?.moves.length ?? 0,
        ...(transitions.length + begun.length + completed.length > 0
          ? { inTransition: transitions.length, transitionsStarted: begun.length, transitionsEnded: countOutcomes(completed) }
          : {}),
      },
      'shard map published',
    );
  };

  // Warm handoff (docs/ownership.md): the planner's state, warm reports and deadlines.
  const handoff = new HandoffDriver({
    logger: log,
    settings: () => served.handoff,
    warmers: () => new Set(started.flatMap((s) => [...(s.readers?.proxies?.nodeIds('agent') ?? [])])),
    publish: publishStep,
    enqueue: (what, job) => enqueue(what, job, 'handoff'),
  });

  // A second close() waits for the first one's shutdown, as the interface promises, rather than
  // resolving while the ports are still bound.
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= shutdown());
  const shutdown = async (): Promise<void> => {
    closed = true;
    clearTimeout(retryTimer);
    unsubscribeLoad();
    handoff.close();
    await load.close();
    if (admin) await closeAdmin(admin, log);
    for (const stage of [...started].reverse()) {
      await stage.close().catch((err: unknown) => log.error({ err }, 'closing a stage failed'));
    }
    unsubscribeFileErrors();
    // A full computation or a big parse under way is abandoned rather than awaited (seconds at the
    // budget's edge, README "SIGTERM"). The file source stops first, so its parse cut short is no
    // rejected file.
    const fileStopped = file.stop();
    await worker.close();
    await queue;
    // Like a stage's, a source's failed stop is logged: the rest of the shutdown still runs.
    await sources.close().catch((err: unknown) => log.error({ err }, `stopping the endpoint source failed: ${(err as Error).message}`));
    await fileStopped;
    await worker.close(); // a thread a job started meanwhile
  };

  // Topology files queued so far; only the latest queued one is applied (as for endpoint reports).
  let fileChanges = 0;
  let fileChangedSince: Date | undefined;
  file.onConfig((cfg) => {
    const seq = ++fileChanges;
    fileChangedSince ??= new Date();
    enqueue('topology file change', async () => {
      // A newer file is queued: this one's map would be out of date. If the newer one then fails,
      // this one is not applied in its place: it is no longer on disk nor what the file source
      // reports in force, so applying it would serve a topology nobody asks for now, and /readyz
      // could not say which. The map in force stays, with the newer file's error (the last good
      // state, docs/configuration.md "Reloading").
      if (seq !== fileChanges) return;
      const detectedAt = fileChangedSince ?? new Date();
      fileChangedSince = undefined;
      const chosen = await sources.choose(cfg);
      // close() began while the replaced source stopped: applying the settings now would rebuild
      // the load source the shutdown closed (a Prometheus source polling on after close()).
      if (closed) return;
      endpoints = chosen ?? endpoints;
      config = cfg;
      warnSettings(cfg);
      await recompute({ source: 'file', reason: 'topology file changed', detectedAt });
    });
  });
  const host = opts.host ?? '0.0.0.0';
  const adminHost = opts.adminHost ?? host;
  try {
    const startedAt = new Date();
    await run(async () => {
      // At start keyway waits for the Kubernetes source: there is no map to serve before its endpoints.
      endpoints = await sources.start(config);
      await recompute({ source: 'start', reason: 'start', detectedAt: startedAt });
      // No first map (Kubernetes endpoints past the work budget): the start fails with the reason,
      // as for an invalid file, rather than with a stage's complaint that no map exists.
      if (!state.current()) throw state.pipelineError() ?? new KeywayError('INTERNAL', 'the first shard map was not published');
    });
    const ctx = { state, logger: log, xdsPort: opts.xdsPort ?? DEFAULT_XDS_PORT, host, warm: handoff, load };
    for (const stage of opts.stages ?? []) {
      started.push(await stage.start({ ...ctx, logger: log.child({ stage: stage.name }) }));
    }
    const readers = started.flatMap((s) => (s.readers ? [s.readers] : []));
    admin = await buildAdminApp(state, { logger: log, readers, loopbackOnly: isLoopbackHost(adminHost), ...(opts.adminToken !== undefined ? { token: opts.adminToken } : {}) });
    await admin.listen({ port: opts.httpPort ?? DEFAULT_HTTP_PORT, host: adminHost });
  } catch (err) {
    await close();
    throw err;
  }
  const address = admin.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : (opts.httpPort ?? DEFAULT_HTTP_PORT);
  const listening = Object.assign({ httpPort }, ...started.map((s) => s.listening ?? {})) as Record<string, number>;
  log.info({ ...listening, host, adminHost, adminToken: opts.adminToken !== undefined }, 'listening');
  return {
    state,
    admin,
    httpPort,
    listening,
    reload: () => file.reload(),
    close,
  };
}

/**
 * Closes the admin server: requests under way get {@link ADMIN_SHUTDOWN_GRACE_MS}, then every
 * connection is closed, finished or not, so a stalled client cannot hold the shutdown.
 */
async function closeAdmin(admin: FastifyInstance, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'grace over'>((resolve) => {
    timer = setTimeout(() => resolve('grace over'), ADMIN_SHUTDOWN_GRACE_MS);
  });
  const closing = admin.close();
  const first = await Promise.race([closing, graceOver]);
  clearTimeout(timer);
  if (first !== 'grace over') return;
  log.info({ graceMs: ADMIN_SHUTDOWN_GRACE_MS }, 'admin REST connections closed after the shutdown grace (requests still under way)');
  admin.server.closeAllConnections();
  await closing;
}

/**
 * A reload that changes `shards` (S) is applied, but loudly (docs/configuration.md "Reloading"). A
 * key's shard is murmur3(key) mod S, so a new S moves almost every key to another shard number:
 * the caches go cold, `movedShards` counts renumbered shards rather than moved keys, and moves and
 * drains under way end (a shard number now names other keys). Refusing it instead would keep this
 * replica on the old S until a restart while every other change in the file waited with it, and
 * replicas restarted one at a time would serve two values of S side by side, routing one key to two
 * places; a reload switches every replica watching the file within the same moment.
 */
function warnShardCountChange(log: Logger, from: number | undefined, to: number | undefined): void {
  if (from === undefined || to === undefined || from === to) return;
  const kept = keysKeepingTheirShard(from, to);
  log.warn(
    { fromShards: from, toShards: to, keysKeepingTheirShard: Number(kept.toFixed(4)) },
    `shards changed from ${from} to ${to} on reload: a key's shard is murmur3(key) mod S, so about ` +
      `${percent(1 - kept)} of all keys now map to another shard and miss their cache; shard moves ` +
      'count renumbered shards, not keys, and moves and drains under way end. S is meant to stay fixed for a deployment',
  );
}

/**
 * The share of 32-bit hashes h with h mod a = h mod b. They are the h below min(a, b) modulo
 * lcm(a, b) (Chinese remainder theorem), so the share is about min(a, b) / lcm(a, b): a half when
 * S doubles, almost none for most other changes.
 */
function keysKeepingTheirShard(a: number, b: number): number {
  const HASHES = 2 ** 32;
  const lcm = (a / gcd(a, b)) * b; // at most 2^40: exact in a double
  const low = Math.min(a, b);
  return (Math.floor(HASHES / lcm) * low + Math.min(low, HASHES % lcm)) / HASHES;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function percent(share: number): string {
  const p = share * 100;
  return `${p >= 99.95 || p < 0.05 ? p.toFixed(2) : p.toFixed(1)} %`;
}

/** Ended transitions by outcome, for the log line. */
function countOutcomes(completed: HandoffStep['state']['completed']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of completed) out[c.outcome] = (out[c.outcome] ?? 0) + 1;
  return out;
}
