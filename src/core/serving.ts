/**
 * The serving view: what the runner publishes after each shard-map computation, and the
 * read-only interface every later stage (xDS, telemetry, admin) reads it through
 * (docs/architecture.md "Who writes state"). Only the composition root (src/app) writes.
 */
import type { HandoffState } from './handoff.js';
import type { HotShardDecision } from './load.js';
import type { Topology } from './settings.js';
import type { ShardMap, ShardMapDiff, ShardMove } from './shard-map.js';

/** One published state of the pipeline. Immutable; a new object on every change. */
export interface ServingView {
  /** 1 for the first published view, then +1 per publish. */
  readonly sequence: number;
  /**
   * The routed map: what proxies receive and `/v1/shardmap` shows. It equals the target map
   * (`handoff.target`) except for shards in transition, which keep their previous owners until
   * the new primary is warm (docs/ownership.md).
   */
  readonly map: ShardMap;
  /** The target map, the shards in transition and the drains; absent when handoff is disabled. */
  readonly handoff?: HandoffState;
  /**
   * The hot-shard policy's decision the target map includes (docs/hot-shards.md): why shards have
   * extra readers or a moved primary. Absent when the policy changed nothing or is off.
   */
  readonly hotShards?: HotShardDecision;
  /** Policy and xDS settings from the topology file; `endpoints` are the ones in force (= map.endpoints). */
  readonly topology: Topology;
  /** Owner changes from the previous view's map; absent for the first view. */
  readonly diff?: ShardMapDiff;
  readonly updatedAt: Date;
  /**
   * When `map.version` came into force in this process: kept across republishes of that version,
   * moved by a new one (also one in force before). Set by the serving state.
   */
  readonly versionSince?: Date;
  /** What led to this view and what computing its map cost (set by the runner; for metrics and traces). */
  readonly cause?: ChangeCause;
}

/**
 * Why a view was published: the source event the runner acted on and the shard-map computation it
 * ran. The change trace starts at `detectedAt` and shows the computation as `keyway.sharding`;
 * `keyway_shardmap_compute_duration_seconds` records `computeSeconds`.
 */
export interface ChangeCause {
  /**
   * `start` for the first map, else the source whose event led here: `file` (the topology file),
   * `kubernetes`, `handoff` (a warm report or a warm-up deadline flipped shards in transition), or
   * `load` (a new load snapshot changed the hot-shard decision, docs/hot-shards.md).
   */
  readonly source: 'file' | 'kubernetes' | 'start' | 'handoff' | 'load';
  /** In a few words: `start`, `topology file changed`, `endpoints changed`. */
  readonly reason: string;
  /** When the runner received the source's event (after the source's own debouncing), before queueing it. */
  readonly detectedAt: Date;
  /** Wall-clock start of the shard-map computation. */
  readonly computeStartedAt: Date;
  /** Duration of the computation (nextShardMap), from a monotonic clock. */
  readonly computeSeconds: number;
  /** `unchanged`: the map was reused (only endpoint details outside the map or xDS settings changed). */
  readonly mode: 'full' | 'incremental' | 'unchanged';
}

/** A past change of the shard map, kept for the admin API. */
export interface ShardMapChange {
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly at: Date;
  readonly moves: readonly ShardMove[];
}

/** What `/readyz` and `/v1/shardmap` show about a source (the topology file, Kubernetes). */
export interface SourceStatus {
  /** Which source this is: `file`, `kubernetes`. */
  readonly kind: string;
  /** The backend answered on the last attempt (file read and valid; API server reachable). */
  readonly healthy: boolean;
  /**
   * The endpoints in force may lag the backend: the last read failed, or the source lost its
   * backend, so the last known state is served.
   */
  readonly stale: boolean;
  /** The last failure, fully located where it applies (`file:line:column: field: message`). */
  readonly lastError?: string;
  /** When the endpoints in force were last taken from the backend. */
  readonly lastUpdate?: Date;
  /** Since when the endpoints in force may lag the backend (start of the current outage). */
  readonly staleSince?: Date;
  /** Problems found in individual input objects that were worked around (a malformed annotation). */
  readonly problems?: readonly unknown[];
  /** How many problems there are, when more were found than `problems` lists. */
  readonly problemsTotal?: number;
}

export type ViewListener = (view: ServingView, previous: ServingView | undefined) => void;

/** A source failure the runner forwarded; `source` is the source's kind (`file`, `kubernetes`). */
export type SourceErrorListener = (source: string, err: Error) => void;

/**
 * The read-only serving state (the shard-map reader): what admin routes, telemetry and the xDS
 * stage may see. Listeners run synchronously after each publish, so they only schedule work.
 */
export interface ServingReader {
  /** The view in force, or undefined before the first shard map. */
  current(): ServingView | undefined;
  /** Past shard-map changes that moved at least one shard, newest first. */
  history(): readonly ShardMapChange[];
  /** Subscribes to published views. Returns the unsubscribe function. */
  onShardMap(listener: ViewListener): () => void;
  /** Subscribes to source failures (for `keyway_source_errors_total`). Returns the unsubscribe function. */
  onSourceError(listener: SourceErrorListener): () => void;
  /** Status of every source feeding the map, for `/readyz`. */
  sources(): readonly SourceStatus[];
  /**
   * Why the latest input could not become a shard map, or why a later step on it (a hot-shard
   * decision, a handoff step) failed until that step next succeeds; the map in force stays.
   * Undefined when none holds.
   */
  pipelineError(): Error | undefined;
}
