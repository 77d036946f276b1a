/**
 * keyway's metrics (docs/observability.md "Metrics"): a typed facade over OpenTelemetry instruments, rendered in
 * Prometheus text format for `GET /metrics`. Events are recorded with `record*` calls from the
 * pipeline; current state (connected proxies, ownership, sources) is read at scrape time through
 * `observe*` callbacks, so the metrics never hold a second copy of it, and what left the state
 * leaves the metrics at the next scrape (see live-gauges.ts).
 */
import type { Attributes } from '@opentelemetry/api';
import { DEGRADED_REASON_CODES, degradedReasons, type HealthInputs } from '../core/health.js';
import type { LoadSnapshot } from '../core/load.js';
import { instrumentName, KEYWAY_METRICS as N } from './metric-names.js';
import { createPrometheusRegistry, type PrometheusRegistry } from './prometheus-registry.js';

/**
 * What {@link KeywayMetrics.observeProxies} reads per connected proxy: the xDS server's
 * `statuses()` (`ProxySyncSummary`, no row built) or its rows (`ProxyStatus`) fit.
 */
export interface ProxySummary {
  readonly flavor: string;
  /** Per resource type, the proxy's sync status (SYNCED, STALE, NACKED, NOT_SENT). */
  readonly types?: Readonly<Record<string, { readonly status: string } | undefined>>;
}

/** One endpoint's share of the shard map, for {@link KeywayMetrics.observeOwnership}. */
export interface OwnershipRow {
  readonly endpoint: string;
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
  /** Shards owned in any position. */
  readonly owned: number;
  /** Shards led as primary. */
  readonly primary: number;
  readonly weight: number;
  readonly ready: boolean;
}

/** What {@link KeywayMetrics.observeSources} reads per source (`SourceStatus` fits). */
export interface SourceSummary {
  /** `file`, `kubernetes`. */
  readonly kind: string;
  readonly stale: boolean;
  /** When the source last took state from its backend; staleness is measured from here. */
  readonly lastUpdate?: Date;
}

/** A published shard map, for {@link KeywayMetrics.recordShardMapPublished}. */
export interface PublishedShardMap {
  readonly version: string;
  readonly shardCount: number;
  /** Shards whose owner list changed against the previous map (0 for the first map). */
  readonly movedShards: number;
  /** Publication time; default now. */
  readonly at?: Date;
}

/** What one publish did to two-phase moves, for {@link KeywayMetrics.recordHandoff}. */
export interface HandoffEvents {
  readonly started: number;
  readonly completed: readonly { readonly outcome: string; readonly seconds: number }[];
}

/**
 * The settings of the xDS server's stream caps (docs/security.md "xDS streams"); their refusal
 * counters start at 0, so an alert on a rise sees the first refusal.
 */
export const STREAM_CAP_SETTINGS = [
  'KEYWAY_XDS_MAX_STREAMS',
  'KEYWAY_XDS_MAX_STREAMS_PER_CONNECTION',
  'KEYWAY_XDS_MAX_STREAMS_PER_NODE',
  'KEYWAY_XDS_MAX_NODE_ID_LENGTH',
  'KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS',
] as const;

/**
 * Why keyway ended an admitted xDS stream at a per-stream limit (docs/security.md "xDS streams"): its
 * proxy read nothing for KEYWAY_XDS_WRITE_STALL_MS, its backlog passed KEYWAY_XDS_MAX_BUFFERED_BYTES,
 * or a subscription passed KEYWAY_XDS_MAX_NAMES_PER_SUBSCRIPTION or KEYWAY_XDS_MAX_NAME_CHARS_PER_SUBSCRIPTION.
 * A closed set, so the label stays small; each counter starts at 0.
 */
export const STREAM_LIMIT_REASONS = ['write_stall', 'buffered_bytes', 'subscription_names', 'subscription_name_chars'] as const;
export type StreamLimitReason = (typeof STREAM_LIMIT_REASONS)[number];

/** The outcomes of a two-phase move (docs/ownership.md); their counters start at 0. */
export const HANDOFF_OUTCOMES = ['warm', 'timeout', 'cancelled', 'owner-lost', 'agent-lost'] as const;

/** The hot-shard decision in force, for the `keyway_hot_shards` and load-ratio gauges. */
export interface HotShardSummary {
  readonly spread: number;
  readonly boundedLoad: number;
  readonly maxLoadRatio?: number;
  readonly plainMaxLoadRatio?: number;
}

export interface KeywayMetrics {
  /** One DiscoveryResponse of `type` answered by a proxy, `seconds` after it was written. */
  recordPush(type: string, seconds: number): void;
  /** One NACK of `type` (a request carrying error_detail). */
  recordNack(type: string): void;
  /** One new xDS stream refused at a stream cap; `limit` names the cap's setting (STREAM_CAP_SETTINGS). */
  recordStreamRefused(limit: string): void;
  /** keyway ended an admitted xDS stream at a per-stream limit (STREAM_LIMIT_REASONS). */
  recordStreamOverLimit(reason: StreamLimitReason): void;
  /** Seconds from a change at a source to the ACK of the last connected proxy. */
  recordConvergence(seconds: number): void;
  /** Seconds spent computing one shard map. */
  recordShardMapCompute(seconds: number): void;
  /** A shard map was published: sets the version in force and counts the shards it moved. */
  recordShardMapPublished(map: PublishedShardMap): void;
  /** One failure of a source (`file`, `kubernetes`). */
  recordSourceError(source: string): void;
  /** Two-phase moves started and ended by one publish. */
  recordHandoff(events: HandoffEvents): void;
  /** A new hot-shard decision (docs/hot-shards.md): the moves of its last step and those the churn budget deferred. */
  recordHotShardMoves(moves: number, deferred: number): void;
  /** Installs the reader of the hot-shard decision in force; undefined: no decision (plain rendezvous). */
  observeHotShards(read: () => HotShardSummary | undefined): () => void;
  /** Installs the reader of the handoff state in force (shards in transition, drains); undefined: none. */
  observeHandoff(read: () => { readonly inTransition: number; readonly draining: number } | undefined): () => void;
  /** Installs the reader of the xDS server certificate in use (its notAfter, ms since the epoch); undefined: no TLS. */
  observeXdsTlsCertificate(read: () => { readonly notAfterMs: number } | undefined): () => void;
  /**
   * Installs the reader of the last closed load window, as this replica's reports sum it (the
   * `keyway_load_*` gauges the Prometheus snapshot source reads back; docs/load-reports.md).
   */
  observeLoad(read: () => LoadSnapshot | undefined): () => void;
  /** Failed reads of the load snapshot source in a row, at every scrape. */
  observeLoadSnapshotReads(read: () => number | undefined): () => void;
  /** Installs the reader of connected proxies (replaces any previous one). Returns an uninstaller. */
  observeProxies(read: () => Iterable<ProxySummary>): () => void;
  /** Installs the reader of the proxy classes the snapshot cache holds, one item per class (its flavor). */
  observeProxyClasses(read: () => Iterable<{ readonly flavor: string }>): () => void;
  /** Installs the reader of per-endpoint ownership; `undefined` means no map yet. */
  observeOwnership(read: () => Iterable<OwnershipRow> | undefined): () => void;
  /** Installs the reader of source statuses. */
  observeSources(read: () => Iterable<SourceSummary>): () => void;
  /**
   * Installs the reader of the serving state's health (sources, pipeline error) behind `keyway_degraded`; with the
   * proxies of {@link observeProxies} it gives the same reasons as `/readyz`.
   */
  observeHealth(read: () => Omit<HealthInputs, 'proxies'>): () => void;
  /** One endpoint picker decision (docs/gateways.md): `route`, `bad-request` or `unavailable`. */
  recordPickerDecision(outcome: string): void;
  /** One response whose served endpoint the gateway reported: `primary`, `replica` or `elsewhere`. */
  recordPickerServed(by: string): void;
  /** Renders every metric in Prometheus text format 0.0.4 (serve with {@link PROMETHEUS_CONTENT_TYPE}). */
  render(): Promise<string>;
  shutdown(): Promise<void>;
}

export interface KeywayMetricsOptions {
  /** `service.name` in `target_info`; default `keyway`. */
  readonly serviceName?: string;
  /** Resource types whose counters start at 0, so rate() and dashboards see them before the first event. */
  readonly resourceTypes?: readonly string[];
  /** Sources whose error counter starts at 0. */
  readonly sources?: readonly string[];
  /** Flavors reported as 0 connected when none is. */
  readonly flavors?: readonly string[];
  /** Sync statuses reported as 0 when no proxy has them. */
  readonly syncStatuses?: readonly string[];
  /** Clock for ages, epoch ms (tests; it then times the ages alone). Default: the wall clock, moved on by the monotonic one. */
  readonly now?: () => number;
  /** Errors thrown by `observe*` readers during a scrape (the rest of the scrape is still served). */
  readonly onCollectErrors?: (errors: readonly unknown[]) => void;
  /** Also expose process and runtime metrics (docs/observability.md); `keyway serve` does. */
  readonly processMetrics?: boolean;
}

const DEFAULT_TYPES = ['cluster', 'endpoint', 'listener', 'route', 'assignment'];
const DEFAULT_FLAVORS = ['envoy', 'grpc', 'agent'];
const DEFAULT_STATUSES = ['SYNCED', 'STALE', 'NACKED', 'NOT_SENT'];

// Bucket bounds in seconds. Pushes are a round trip to a proxy; convergence adds debouncing and
// every proxy's round trip; a shard map is computed in micro- to milliseconds.
const PUSH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const CONVERGENCE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
// A full computation at the work budget's edge takes about 4 s on 2 idle cores (docs/security.md).
const COMPUTE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// A warm-up copies a shard's hot set from a peer: milliseconds to the 30 s default timeout.
const WARM_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];
// Up to the largest S the work budget allows (MAX_OWNER_SLOTS with one replica): a change moves at most S shards.
const MOVED_BUCKETS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];

/**
 * Creates keyway's instruments on a fresh MeterProvider (one per process is the intent; tests make
 * several). Counters for the known types, sources and flavors start at 0.
 */
export function createKeywayMetrics(opts: KeywayMetricsOptions = {}): KeywayMetrics {
  const registry: PrometheusRegistry = createPrometheusRegistry({
    serviceName: opts.serviceName ?? 'keyway',
    scope: 'keyway',
    ...(opts.onCollectErrors ? { onCollectErrors: opts.onCollectErrors } : {}),
    ...(opts.processMetrics ? { processMetrics: true } : {}),
  });
  const { meter } = registry;
  const now = opts.now ?? Date.now;
  const ageOf = ageClock(now, opts.now ?? ((): number => performance.now()));

  // Counted in a plain map and read at scrape: every ACK of every stream lands here, and an OTel
  // counter's add (attribute hashing and storage lookup) cost as much as the rest of the ACK.
  const pushCounts = new Map<string, number>();
  meter
    .createObservableCounter(instrumentName(N.pushes), { description: 'DiscoveryResponses answered by a proxy (ACK or NACK), by resource type' })
    .addCallback((observe) => {
      for (const [type, n] of pushCounts) observe.observe(n, { type });
    });
  const pushDuration = meter.createHistogram(N.pushDuration, {
    description: 'Seconds from writing a DiscoveryResponse to the proxy ACK or NACK of it, by resource type',
    unit: 's',
    advice: { explicitBucketBoundaries: PUSH_BUCKETS },
  });
  const nacks = meter.createCounter(instrumentName(N.nacks), { description: 'NACKs received (requests carrying error_detail), by resource type' });
  const streamsRefused = meter.createCounter(instrumentName(N.streamsRefused), { description: 'New xDS streams refused at a stream cap or limit, by its setting' });
  for (const limit of STREAM_CAP_SETTINGS) streamsRefused.add(0, { limit });
  const streamsOverLimit = meter.createCounter(instrumentName(N.streamsOverLimit), { description: 'Admitted xDS streams keyway ended at a per-stream limit, by reason' });
  for (const reason of STREAM_LIMIT_REASONS) streamsOverLimit.add(0, { reason });
  const convergence = meter.createHistogram(N.convergence, {
    description: 'Seconds from a change at a source to the ACK of the last connected proxy',
    unit: 's',
    advice: { explicitBucketBoundaries: CONVERGENCE_BUCKETS },
  });
  const compute = meter.createHistogram(N.shardMapComputeDuration, {
    description: 'Seconds to compute one shard map',
    unit: 's',
    advice: { explicitBucketBoundaries: COMPUTE_BUCKETS },
  });
  const moved = meter.createCounter(instrumentName(N.shardsMoved), { description: 'Shards whose owner list changed, over all changes' });
  const changes = meter.createCounter(instrumentName(N.shardMapChanges), { description: 'Shard-map changes published' });
  const movedPerChange = meter.createHistogram(N.movedPerChange, {
    description: 'Shards moved by one shard-map change',
    advice: { explicitBucketBoundaries: MOVED_BUCKETS },
  });
  const sourceErrors = meter.createCounter(instrumentName(N.sourceErrors), { description: 'Failures of a source, by source' });

  const handoffStarted = meter.createCounter(instrumentName(N.handoffStarted), { description: 'Two-phase moves started' });
  const handoffCompleted = meter.createCounter(instrumentName(N.handoffCompleted), { description: 'Two-phase moves ended, by outcome' });
  const handoffWarm = meter.createHistogram(N.handoffWarmDuration, {
    description: 'Seconds from the start of a two-phase move to its flip, by outcome (warm, timeout)',
    unit: 's',
    advice: { explicitBucketBoundaries: WARM_BUCKETS },
  });
  const hotMoves = meter.createCounter(instrumentName(N.hotShardMoves), { description: 'Shard moves made by the hot-shard policy' });
  const hotDeferred = meter.createCounter(instrumentName(N.hotShardMovesDeferred), { description: 'Hot-shard moves deferred by the churn budget' });
  hotMoves.add(0);
  hotDeferred.add(0);
  handoffStarted.add(0);
  for (const outcome of HANDOFF_OUTCOMES) handoffCompleted.add(0, { outcome });
  const pickerDecisions = meter.createCounter(instrumentName(N.pickerDecisions), { description: 'Endpoint picker (ext_proc) decisions, by outcome' });
  const pickerServed = meter.createCounter(instrumentName(N.pickerServed), { description: 'Responses whose served endpoint the gateway reported, by who served: primary, replica, elsewhere' });
  for (const outcome of ['route', 'bad-request', 'unavailable']) pickerDecisions.add(0, { outcome });
  for (const by of ['primary', 'replica', 'elsewhere']) pickerServed.add(0, { by });

  for (const type of opts.resourceTypes ?? DEFAULT_TYPES) {
    pushCounts.set(type, 0);
    nacks.add(0, { type });
  }
  for (const source of opts.sources ?? ['file']) sourceErrors.add(0, { source });
  moved.add(0);
  changes.add(0);

  // ---- state read at scrape time
  let readProxies: (() => Iterable<ProxySummary>) | undefined;
  let readProxyClasses: (() => Iterable<{ readonly flavor: string }>) | undefined;
  let readOwnership: (() => Iterable<OwnershipRow> | undefined) | undefined;
  let readSources: (() => Iterable<SourceSummary>) | undefined;
  let readHotShards: (() => HotShardSummary | undefined) | undefined;
  let readHandoff: (() => { readonly inTransition: number; readonly draining: number } | undefined) | undefined;
  let readXdsTlsCertificate: (() => { readonly notAfterMs: number } | undefined) | undefined;
  let readHealth: (() => Omit<HealthInputs, 'proxies'>) | undefined;
  let readLoad: (() => LoadSnapshot | undefined) | undefined;
  let readLoadSnapshotFailures: (() => number | undefined) | undefined;
  let published: { version: string; shardCount: number; at: number } | undefined;
  /** The proxies read by this scrape's first group, for the second (see keyway_degraded). */
  let proxiesOfScrape: readonly ProxySummary[] | undefined;
  const flavors = opts.flavors ?? DEFAULT_FLAVORS;
  const statuses = opts.syncStatuses ?? DEFAULT_STATUSES;
  const types = opts.resourceTypes ?? DEFAULT_TYPES;

  const { live } = registry;
  const spec = (name: string, description: string, unit?: string) => (unit ? { name, description, unit } : { name, description });

  live.add(
    [spec(N.proxiesConnected, 'Proxies connected over xDS, by flavor'), spec(N.proxySyncStatus, 'Connected proxies per resource type and sync status')],
    (observe) => {
      if (!readProxies) return;
      const proxies = readProxies();
      // Kept for keyway_degraded in this same (synchronous) collection: a row per proxy is costly to build.
      proxiesOfScrape = Array.isArray(proxies) ? (proxies as ProxySummary[]) : [...proxies];
      const byFlavor = new Map<string, number>(flavors.map((f) => [f, 0]));
      const byTypeStatus = new Map<string, { type: string; status: string; n: number }>();
      for (const type of types) for (const status of statuses) byTypeStatus.set(`${type}\0${status}`, { type, status, n: 0 });
      for (const proxy of proxiesOfScrape) {
        byFlavor.set(proxy.flavor, (byFlavor.get(proxy.flavor) ?? 0) + 1);
        for (const [type, row] of Object.entries(proxy.types ?? {})) {
          if (!row) continue;
          const key = `${type}\0${row.status}`;
          const cell = byTypeStatus.get(key) ?? { type, status: row.status, n: 0 };
          cell.n++;
          byTypeStatus.set(key, cell);
        }
      }
      for (const [flavor, n] of byFlavor) observe(N.proxiesConnected, n, { flavor });
      for (const { type, status, n } of byTypeStatus.values()) observe(N.proxySyncStatus, n, { type, status });
    },
  );

  // What each map change costs grows with the classes (docs/security.md "xDS streams", proxy classes), not the proxies.
  live.add([spec(N.proxyClasses, 'Proxy classes keyway translates and holds a snapshot for, by flavor')], (observe) => {
    if (!readProxyClasses) return;
    const byFlavor = new Map<string, number>(flavors.map((f) => [f, 0]));
    for (const c of readProxyClasses()) byFlavor.set(c.flavor, (byFlavor.get(c.flavor) ?? 0) + 1);
    for (const [flavor, n] of byFlavor) observe(N.proxyClasses, n, { flavor });
  });

  live.add(
    [
      spec(N.shardsOwned, 'Shards the endpoint owns (primary or replica)'),
      spec(N.shardsPrimary, 'Shards the endpoint leads as primary'),
      spec(N.endpointWeight, 'Configured weight of the endpoint'),
      spec(N.endpointReady, '1 when the endpoint is ready, else 0'),
    ],
    (observe) => {
      const rows = readOwnership?.();
      if (!rows) return;
      for (const row of rows) {
        const attrs: Attributes = { endpoint: row.endpoint, region: row.region, zone: row.zone, subzone: row.subzone };
        observe(N.shardsOwned, row.owned, attrs);
        observe(N.shardsPrimary, row.primary, attrs);
        observe(N.endpointWeight, row.weight, attrs);
        observe(N.endpointReady, row.ready ? 1 : 0, attrs);
      }
    },
  );

  live.add(
    [
      spec(N.shardMapVersionAge, 'Seconds since the shard map in force was published', 's'),
      spec(N.shardMapInfo, '1 for the shard-map version in force'),
      spec(N.shardCount, 'S, the number of shards'),
    ],
    (observe) => {
      if (!published) return;
      observe(N.shardMapVersionAge, ageOf('shardmap', published.at));
      observe(N.shardMapInfo, 1, { version: published.version });
      observe(N.shardCount, published.shardCount);
    },
  );

  live.add(
    [
      spec(N.sourceStaleness, 'Seconds since the source last delivered state from its backend', 's'),
      spec(N.sourceStale, '1 while the source serves its last known state because its backend failed'),
    ],
    (observe) => {
      for (const s of readSources?.() ?? []) {
        const attrs = { source: s.kind };
        observe(N.sourceStale, s.stale ? 1 : 0, attrs);
        if (s.lastUpdate) observe(N.sourceStaleness, ageOf(`source ${s.kind}`, s.lastUpdate.getTime()), attrs);
      }
    },
  );

  // Every reason is reported, 0 or 1, so an alert on `keyway_degraded == 1` has a series to watch from the start.
  live.add([spec(N.degraded, '1 while keyway is degraded for this reason (it still serves), else 0')], (observe) => {
    const proxies = proxiesOfScrape ?? readProxies?.();
    proxiesOfScrape = undefined;
    if (!readHealth) return;
    const active = new Set(degradedReasons({ ...readHealth(), ...(proxies ? { proxies } : {}) }).map((r) => r.code));
    for (const reason of DEGRADED_REASON_CODES) observe(N.degraded, active.has(reason) ? 1 : 0, { reason });
  });

  live.add(
    [spec(N.handoffInTransition, 'Shards in transition: routed to their previous owners while the new primary warms'), spec(N.handoffDraining, 'Drains under way')],
    (observe) => {
      const h = readHandoff?.();
      if (!h) return;
      observe(N.handoffInTransition, h.inTransition);
      observe(N.handoffDraining, h.draining);
    },
  );

  // Operators alert on it (`keyway_xds_tls_certificate_expiry_timestamp_seconds - time() < 7 * 86400`):
  // keyway itself says so only once the certificate in use has expired.
  live.add([spec(N.xdsTlsCertificateExpiry, 'Expiry (notAfter) of the xDS server certificate in use, Unix seconds', 's')], (observe) => {
    const notAfterMs = readXdsTlsCertificate?.()?.notAfterMs;
    if (notAfterMs !== undefined && Number.isFinite(notAfterMs)) observe(N.xdsTlsCertificateExpiry, notAfterMs / 1000);
  });

  live.add(
    [
      spec(N.loadShard, 'Requests per second of a shard in the last closed load window (the hottest shards only)'),
      spec(N.loadNode, 'Requests per second a node reported for the last closed load window'),
      spec(N.loadWindow, 'Start of the last closed load window with reports, Unix seconds', 's'),
    ],
    (observe) => {
      const snap = readLoad?.();
      if (!snap) return;
      observe(N.loadWindow, snap.windowStartMs / 1000);
      for (const s of snap.shards) observe(N.loadShard, s.requests, { shard: String(s.shard) });
      for (const n of snap.nodes) observe(N.loadNode, n.requests, { node: n.nodeId });
    },
  );

  // A failing `prometheus` snapshot source is otherwise only in the log; the policy falls back to
  // plain rendezvous after `historyWindows` of these (docs/load-reports.md).
  live.add([spec(N.loadSnapshotReadFailures, 'Failed reads of the load snapshot source in a row (0 after a read that succeeded)')], (observe) => {
    const failures = readLoadSnapshotFailures?.();
    if (failures !== undefined) observe(N.loadSnapshotReadFailures, failures);
  });

  // Both reasons are reported (0 without a decision), so an alert has a series from the start.
  live.add(
    [
      spec(N.hotShards, 'Shards the hot-shard policy changes now, by reason (spread, bounded-load)'),
      spec(N.hotShardLoadRatio, 'Modelled busiest node: load over weight share, with the policy (hot) and plain rendezvous (plain)'),
    ],
    (observe) => {
      const h = readHotShards?.();
      observe(N.hotShards, h?.spread ?? 0, { reason: 'spread' });
      observe(N.hotShards, h?.boundedLoad ?? 0, { reason: 'bounded-load' });
      if (h?.maxLoadRatio !== undefined) observe(N.hotShardLoadRatio, h.maxLoadRatio, { map: 'hot' });
      if (h?.plainMaxLoadRatio !== undefined) observe(N.hotShardLoadRatio, h.plainMaxLoadRatio, { map: 'plain' });
    },
  );

  const install = <T>(set: (r: T | undefined) => void, read: T, current: () => T | undefined): (() => void) => {
    set(read);
    return () => {
      if (current() === read) set(undefined);
    };
  };

  return {
    recordPush(type, seconds) {
      pushCounts.set(type, (pushCounts.get(type) ?? 0) + 1);
      pushDuration.record(nonNegative(seconds), { type });
    },
    recordNack(type) {
      nacks.add(1, { type });
    },
    recordStreamRefused(limit) {
      streamsRefused.add(1, { limit });
    },
    recordStreamOverLimit(reason) {
      streamsOverLimit.add(1, { reason });
    },
    recordConvergence(seconds) {
      convergence.record(nonNegative(seconds));
    },
    recordShardMapCompute(seconds) {
      compute.record(nonNegative(seconds));
    },
    recordShardMapPublished(map) {
      published = { version: map.version, shardCount: map.shardCount, at: (map.at ?? new Date(now())).getTime() };
      ageOf('shardmap', published.at);
      changes.add(1);
      moved.add(Math.max(0, map.movedShards));
      movedPerChange.record(Math.max(0, map.movedShards));
    },
    recordSourceError(source) {
      sourceErrors.add(1, { source });
    },
    observeProxies: (read) => install((r) => (readProxies = r), read, () => readProxies),
    observeProxyClasses: (read) => install((r) => (readProxyClasses = r), read, () => readProxyClasses),
    observeOwnership: (read) => install((r) => (readOwnership = r), read, () => readOwnership),
    observeSources: (read) => install((r) => (readSources = r), read, () => readSources),
    observeHealth: (read) => install((r) => (readHealth = r), read, () => readHealth),
    recordHandoff({ started, completed }) {
      if (started > 0) handoffStarted.add(started);
      for (const c of completed) {
        handoffCompleted.add(1, { outcome: c.outcome });
        if (c.outcome === 'warm' || c.outcome === 'timeout') handoffWarm.record(nonNegative(c.seconds), { outcome: c.outcome });
      }
    },
    observeHandoff: (read) => install((r) => (readHandoff = r), read, () => readHandoff),
    observeXdsTlsCertificate: (read) => install((r) => (readXdsTlsCertificate = r), read, () => readXdsTlsCertificate),
    observeLoad: (read) => install((r) => (readLoad = r), read, () => readLoad),
    observeLoadSnapshotReads: (read) => install((r) => (readLoadSnapshotFailures = r), read, () => readLoadSnapshotFailures),
    recordHotShardMoves(moves, deferred) {
      if (moves > 0) hotMoves.add(moves);
      if (deferred > 0) hotDeferred.add(deferred);
    },
    observeHotShards: (read) => install((r) => (readHotShards = r), read, () => readHotShards),
    recordPickerDecision(outcome) {
      pickerDecisions.add(1, { outcome });
    },
    recordPickerServed(by) {
      pickerServed.add(1, { by });
    },
    render: () => registry.render(),
    shutdown: () => registry.shutdown(),
  };
}

/**
 * Seconds since a wall-clock time (`at`, epoch ms) per `key`: its age when first seen, then on the
 * `mono` clock, so a wall clock that steps later neither adds the step to the age nor holds it at 0
 * for as long as the clock went back. Keeps one entry per key (a map, each source).
 */
function ageClock(now: () => number, mono: () => number): (key: string, at: number) => number {
  const seen = new Map<string, { readonly at: number; readonly lead: number; readonly mono: number }>();
  return (key, at) => {
    let s = seen.get(key);
    if (s?.at !== at) seen.set(key, (s = { at, lead: Math.max(0, now() - at), mono: mono() }));
    return Math.max(0, s.lead + mono() - s.mono) / 1000;
  };
}

/** Clocks can step backwards; a negative duration would corrupt histogram sums. */
function nonNegative(seconds: number): number {
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
}
