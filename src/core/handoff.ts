/**
 * Warm handoff (docs/ownership.md): the shapes of two-phase moves shared by the handoff planner
 * (src/sharding/handoff.ts), the runner, the ownership stream (xDS translator and server), the
 * admin API and telemetry.
 *
 * The sharding stage computes the **target** map. When it gives a shard a new primary while the
 * previous primary can still serve (it is ready, or it is draining), the shard enters a
 * **transition**: requests keep going to the previous owners (the **routed** map) while the new
 * primary warms; the route flips when the new primary reports warm or the warm-up deadline
 * passes. The previous primary is then told it is **draining** the shard for a while.
 */
import type { ShardMap } from './shard-map.js';

/** The topology file's `handoff:` section (docs/configuration.md). */
export interface HandoffSettings {
  /** false: every move flips at once (keyway 0.1 behaviour). */
  readonly enabled: boolean;
  /** How long a new primary may warm before the route flips anyway. */
  readonly warmTimeoutMs: number;
  /** How long a previous primary is told to keep serving a shard it lost. */
  readonly drainMs: number;
  /**
   * Warm reports take effect on ticks of this period, aligned to the epoch so replicas flip on the
   * same ticks: reports that trickle in make one routed-map change per tick, not one each (every
   * change costs each Envoy a refresh of its load balancers). 0: each report at once.
   */
  readonly flipIntervalMs: number;
  /**
   * In a fleet that runs agents, how long a move to a node without an ownership stream waits for
   * one (a node may turn ready before its agent connects). 0: such moves flip at once.
   */
  readonly agentWaitMs: number;
}

export const DEFAULT_HANDOFF_SETTINGS: HandoffSettings = { enabled: true, warmTimeoutMs: 30_000, drainMs: 30_000, flipIntervalMs: 1000, agentWaitMs: 5000 };

/** One shard whose primary is changing, routed to its previous owners until the new one is warm. */
export interface ShardTransition {
  readonly shard: number;
  /** The owners requests go to now (the routed map's), primary first. */
  readonly from: readonly string[];
  /** The owners the target map gives, primary first. */
  readonly to: readonly string[];
  /** The new primary (`to[0]`): it warms the shard and reports warm. */
  readonly warming: string;
  /** Epoch ms when this replica started the transition. */
  readonly startedAt: number;
  /** Epoch ms after which the route flips without a warm report. */
  readonly deadline: number;
}

/** A previous owner keeps serving a shard it lost until `until` (epoch ms): it drains. */
export interface ShardDrain {
  readonly shard: number;
  readonly node: string;
  readonly until: number;
}

/**
 * How a transition ended: `warm` (the new primary reported warm), `timeout` (its deadline passed),
 * `cancelled` (a later target gave the shard back to its routed primary, or to another node),
 * `owner-lost` (the previous primary can no longer serve), `agent-lost` (the new primary closed its
 * ownership stream, or opened none within `agentWaitMs`, so no warm report will come).
 */
export type TransitionOutcome = 'warm' | 'timeout' | 'cancelled' | 'owner-lost' | 'agent-lost';

export interface CompletedTransition {
  readonly shard: number;
  readonly warming: string;
  readonly outcome: TransitionOutcome;
  /** From the start of the transition to its end. */
  readonly seconds: number;
}

/**
 * The handoff state after one step of the planner. Immutable. The routed map (what proxies get)
 * is the serving view's `map`; this is what sits behind it.
 */
export interface HandoffState {
  /** `handoff.enabled` of the topology: false flips every move at once. */
  readonly enabled: boolean;
  /** What the sharding stage computed from the inputs in force. */
  readonly target: ShardMap;
  /** Shards in transition, sorted by shard. */
  readonly transitions: readonly ShardTransition[];
  /** Shards being drained by a previous owner, sorted by shard, then node. */
  readonly drains: readonly ShardDrain[];
  /** Transitions this step started (shards). */
  readonly started: readonly number[];
  /** Transitions this step ended. */
  readonly completed: readonly CompletedTransition[];
}

/** A cache node says it holds these shards warm (the ownership stream's `ReportWarm`). */
export interface WarmReport {
  readonly node: string;
  /** Shards warm, naming no move (older agents): they may complete any move of the shard to the node. */
  readonly shards: readonly number[];
  /** Shards warm for one move each, named by the deadline this replica sent with WARMING. */
  readonly moves?: readonly WarmedMove[];
}

/**
 * A shard warmed for one move: `untilUnixMs` is a deadline the receiving replica gave the move
 * (replicas take deadlines from their own clocks, so each is sent its own).
 */
export interface WarmedMove {
  readonly shard: number;
  readonly untilUnixMs: number;
}

/** What a sink did with a report: the shards of `moves` it ignored, naming no move it runs. */
export interface WarmReportOutcome {
  readonly stale: readonly number[];
}

/** Where warm reports enter the pipeline: the runner implements it, the xDS stage calls it. */
export interface WarmReportSink {
  reportWarm(report: WarmReport): WarmReportOutcome | void;
  /** A node's ownership stream opened: moves waiting for it take the warm-up deadline at once. */
  ownershipStreamOpened?(node: string): void;
  /** A node's last ownership stream closed: moves waiting for its warm report re-plan at once. */
  ownershipStreamClosed?(node: string): void;
  /** A node's last ownership stream ended (before the reconnect grace): its warm reports no longer count. */
  ownershipStreamEnded?(node: string): void;
}
