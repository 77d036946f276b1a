/**
 * Hot shards (docs/hot-shards.md): the shapes shared by the load signal (cache nodes' load reports
 * on the ownership stream), the load snapshot sources (local, Prometheus), the hot-shard policy
 * (src/sharding/hot-shards.ts), the runner, the translator, the admin API and telemetry.
 *
 * Cache nodes count requests per shard and report them per fixed, epoch-aligned window. A
 * **load snapshot** is the fleet's load for one window, read the same way by every keyway replica.
 * The policy turns (topology, rendezvous map, the last snapshots) into a **hot-shard decision**:
 * shards served by more than one owner at once (spread) and shards whose primary moved to the
 * next owner in rendezvous order (bounded load). The decision is deterministic, so replicas that
 * read the same snapshots publish the same map.
 */

/** The topology file's `hotShards:` section (docs/configuration.md). */
export interface HotShardSettings {
  /** false: plain rendezvous ownership; load reports are still accepted and shown. */
  readonly enabled: boolean;
  /** Length of one load window; reports and snapshots are aligned to multiples of it since the epoch. */
  readonly windowMs: number;
  /** Bounded load: an owner above (1 + epsilon + margin) x its weight share sheds its hottest shards to owners that stay within (1 + epsilon). */
  readonly epsilon: number;
  /** A shard carrying more than this fraction of its primary's weight share is spread. */
  readonly spreadThreshold: number;
  /** At most this many nodes serve one shard at once (the shard's readers), >= 1. */
  readonly maxReaders: number;
  /** Churn budget: at most this many shard moves (primary changes or reader changes) per window. */
  readonly maxMovesPerWindow: number;
  /** Windows whose mean each step of the policy judges (replicas agree given the same windows). */
  readonly historyWindows: number;
  /**
   * Hysteresis on the decision: the policy replays one step per window from an anchor window (a
   * multiple of this many windows since the epoch, between this many and twice as many windows
   * back), each step keeping the previous one's moves unless they clearly no longer fit. 0: no
   * replay, every decision from plain rendezvous on the newest history alone.
   */
  readonly replayWindows: number;
  /**
   * Hysteresis margin of bounded load, in weight shares: a node sheds a shard only above
   * (1 + epsilon + margin) x its share, and a moved shard goes back only when its rendezvous
   * primary would stay at or below (1 + epsilon - margin) x its share with it back (or within
   * (1 + epsilon) when the shard's new primary is above that).
   */
  readonly margin: number;
  /**
   * Requests per window below which a step makes no spread and no bounded-load move (cooling still
   * runs): with a handful of requests a window's shares are noise, and so light a fleet has no
   * node to protect.
   */
  readonly minWindowRequests: number;
  /** Where every replica reads snapshots from. */
  readonly snapshot: LoadSnapshotSettings;
}

/** `local`: this replica's own aggregate of the reports it received (one replica, or tests). */
export type LoadSnapshotSettings =
  | { readonly source: 'local' }
  | { readonly source: 'prometheus'; readonly url: string; readonly lagMs: number };

/** What one cache node reports for one window: the ownership stream's `LoadReport`. */
export interface LoadReport {
  readonly nodeId: string;
  /** Epoch ms, a multiple of the window length. */
  readonly windowStartMs: number;
  readonly windowMs: number;
  /** Every request the node served in the window. */
  readonly totalRequests: number;
  /** The node's hottest shards (at most MAX_REPORTED_SHARDS), request counts in the window. */
  readonly shards: readonly ShardLoad[];
}

export interface ShardLoad {
  readonly shard: number;
  readonly requests: number;
}

/** At most this many shards per load report (a node reports its hottest ones). */
export const MAX_REPORTED_SHARDS = 256;

/** The fleet's load in one window, the same on every replica that reads it. */
export interface LoadSnapshot {
  readonly windowStartMs: number;
  readonly windowMs: number;
  /** Requests per second by shard, sorted by shard; shards not listed carried too little to report. */
  readonly shards: readonly ShardLoad[];
  /** Requests per second by node id, sorted by id. */
  readonly nodes: readonly { readonly nodeId: string; readonly requests: number }[];
}

/** The start of the load window holding `timeMs`: windows are aligned to multiples of `windowMs` since the epoch. */
export function windowStart(timeMs: number, windowMs: number): number {
  return Math.floor(timeMs / windowMs) * windowMs;
}

/** Where the xDS server hands valid load reports (`ShardOwnership/ReportLoad`, docs/load-reports.md). */
export interface LoadReportSink {
  /** The window length reports must use (the topology's `hotShards.windowMs`); undefined: no map yet. */
  windowMs(): number | undefined;
  /**
   * Records a report. @throws KeywayError BAD_ARGUMENT for a report the sink refuses for what the
   * node sent (a window too late to count): answered FAILED_PRECONDITION; LIMIT_EXCEEDED at a
   * limit of the sink (nodes per window): RESOURCE_EXHAUSTED; anything else is INTERNAL.
   */
  reportLoad(report: LoadReport): void;
}

/**
 * What the runner hands the stages: the xDS server's ReportLoad sink, and the last closed window
 * the telemetry stage exports as `keyway_load_*` gauges.
 */
export interface LoadReportIntake extends LoadReportSink {
  /** The last closed window, as the reports this replica received sum it; undefined when none came for it. */
  exported(): LoadSnapshot | undefined;
  /** Failed reads of the load snapshot source in a row (0 after a read that succeeded). */
  snapshotReadFailures(): number;
}

/**
 * Where every replica reads load snapshots from (`src/sources/load`: `local`, `prometheus`;
 * docs/load-reports.md "Sharing the snapshot").
 */
export interface LoadSnapshotSource {
  /**
   * The snapshots of the last `windows` closed windows that have data, oldest first; empty when
   * no node reported in that span, or, with `recentWindows`, in the last `recentWindows` of it
   * (the policy then falls back to plain rendezvous: reports stopped, old load is not replayed).
   */
  latest(windows: number, recentWindows?: number): Promise<readonly LoadSnapshot[]>;
  /** Called when a newer window may be readable (a window closed); returns the unsubscribe. */
  onChange(cb: () => void): () => void;
  close(): Promise<void>;
}

/**
 * The gauges every replica exports of the last closed window it received reports for, and the
 * Prometheus snapshot source reads back (docs/load-reports.md "Sharing the snapshot").
 */
export const LOAD_METRIC_NAMES = {
  /** gauge {shard}: requests per second of a shard in the window (the hottest shards only). */
  shard: 'keyway_load_shard_requests_per_second',
  /** gauge {node}: requests per second a node served in the window. */
  node: 'keyway_load_node_requests_per_second',
  /** gauge: start of that window, Unix seconds. */
  window: 'keyway_load_window_start_seconds',
} as const;

/** Why a shard differs from plain rendezvous ownership. */
export type HotShardReason = 'spread' | 'bounded-load';

/** One shard the policy changed. */
export interface HotShard {
  readonly shard: number;
  /** Requests per second the policy judged: the history's mean, or the last two windows' mean when that is higher beyond chance (docs/hot-shards.md). */
  readonly load: number;
  /** The shard's owners after the policy, primary first; the first `readers` share its requests. */
  readonly owners: readonly string[];
  /** How many of `owners` serve requests at once (1 = primary only). */
  readonly readers: number;
  readonly reason: HotShardReason;
  /** One sentence for /v1/shardmap and the web view, for example "2.1x node gpu-a1's share: spread to 2 readers". */
  readonly explanation: string;
}

/** The policy's output for one window. */
export interface HotShardDecision {
  /** Window of the newest snapshot used; 0 when no snapshot was available (plain rendezvous). */
  readonly windowStartMs: number;
  /** Sorted by shard. */
  readonly shards: readonly HotShard[];
  /**
   * Moves this decision made relative to the previous window's (<= maxMovesPerWindow): the replay's
   * last step, or after the replay's anchor moved, the shards the catch-up took (docs/hot-shards.md "Churn budget").
   */
  readonly moves: number;
  /** Moves the churn budget held back in the last step, plus the shards a catch-up has not taken yet. */
  readonly deferred: number;
  /** Moves made over every step of the replay (or fold) behind this decision. */
  readonly totalMoves?: number;
  /** Modelled busiest node after the policy, as load over weight share (1 = exactly its share); absent without load. */
  readonly maxLoadRatio?: number;
  /** The same for plain rendezvous ownership under the same load, to show what the policy bought. */
  readonly plainMaxLoadRatio?: number;
}

/**
 * Defaults of the `hotShards:` section (docs/hot-shards.md "Settings"). Enabled: with no load
 * snapshot (no reports yet, or reports stopped for `historyWindows` windows) the policy changes
 * nothing, so being on costs nothing until cache nodes report.
 */
export const DEFAULT_HOT_SHARD_SETTINGS: HotShardSettings = {
  enabled: true,
  windowMs: 10_000,
  epsilon: 0.1,
  spreadThreshold: 0.5,
  maxReaders: 4,
  maxMovesPerWindow: 32,
  historyWindows: 6,
  replayWindows: 24,
  margin: 0.05,
  minWindowRequests: 100,
  snapshot: { source: 'local' },
};

/** Upper bounds the topology validator enforces on `hotShards:` (docs/configuration.md). */
export const MAX_HOT_SHARD_READERS = 16;
export const MAX_HOT_SHARD_MOVES_PER_WINDOW = 4096;
export const MAX_HOT_SHARD_HISTORY_WINDOWS = 60;
/** Largest `minWindowRequests` accepted (a billion requests per window: far above any fleet). */
export const MAX_HOT_SHARD_MIN_WINDOW_REQUESTS = 1_000_000_000;
/** Longest replay period; `historyWindows + 3 x replayWindows - 1` must also fit the windows a snapshot source keeps. */
export const MAX_HOT_SHARD_REPLAY_WINDOWS = 30;
/** Most windows the policy may read (the local source keeps as many, src/sources/load/aggregate.ts). */
export const MAX_HOT_SHARD_HELD_WINDOWS = 96;

/**
 * What the runner reads load snapshots through (the `LoadSnapshotSource`s of src/sources/load fit
 * it): the snapshots in force, oldest first, and a signal when they change. Tests feed snapshots
 * directly through a small in-memory reader.
 */
export interface LoadSnapshotReader {
  /** The last `historyWindows` snapshots, oldest first; empty when no load was reported recently. */
  latest(): readonly LoadSnapshot[];
  /** Calls `listener` after `latest()` changed. Returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}
