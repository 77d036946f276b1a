/**
 * The REST API's response bodies (public contract: docs/api.md, and `GET /openapi.json` describes
 * the same shapes). Defined once: the routes build them, the CLI reads them, the tests decode them.
 * Errors answer {@link ErrorBody} from `./error-body.ts`.
 */
import type { DegradedReason } from '../core/health.js';
import type { ProxyStatus } from '../core/proxy.js';
import type { ShardMove } from '../core/shard-map.js';

export type { ProxyStatus } from '../core/proxy.js';

/** An endpoint's locality: region, zone, and `subzone` (the NVLink fabric). */
export interface LocalityBody {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

/** One source feeding the map (`/readyz`, `/v1/shardmap`). Times are ISO 8601. */
export interface SourceBody {
  readonly kind: string;
  readonly healthy: boolean;
  readonly stale: boolean;
  readonly lastError?: string;
  readonly lastUpdate?: string;
  readonly staleSince?: string;
  readonly problems?: readonly unknown[];
  readonly problemsTotal?: number;
}

/** The source-health part of `/readyz` and `/v1/shardmap`. */
export interface SourcesDetailBody {
  /** A source is stale, or a pipeline step failed (the latest input, a hot-shard decision, a handoff step). */
  readonly stale: boolean;
  readonly sources: readonly SourceBody[];
  readonly pipelineError?: string;
}

/** Why keyway is degraded (docs/security.md "Honest state"); `code` is one of `DEGRADED_REASON_CODES`. */
export type DegradedReasonBody = DegradedReason;

/**
 * `GET /readyz`: 200 with `ready: true` (`status` `ready`, or `degraded` with `reasons`), or 503 with
 * `ready: false`, `status: "not-ready"` and the reason.
 */
export interface ReadyzBody extends SourcesDetailBody {
  readonly ready: boolean;
  /** `ready`; `degraded`: serving, but proxies NACK or a source lags (see `reasons`); `not-ready`: 503. */
  readonly status: 'ready' | 'degraded' | 'not-ready';
  /** Why keyway is degraded; empty when it is not. */
  readonly reasons: readonly DegradedReasonBody[];
  readonly reason?: string;
  readonly version?: string;
  readonly shardCount?: number;
  readonly ownedShards?: number;
  readonly endpoints?: number;
  readonly readyEndpoints?: number;
  readonly warnings?: readonly string[];
}

export interface EndpointBody {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly locality: LocalityBody;
  readonly weight: number;
  readonly ready: boolean;
  /** A planned departure: not ready, still serving while its shards are handed off. */
  readonly draining: boolean;
  readonly shardsOwned: number;
  readonly shardsPrimary: number;
}

/** `GET /v1/shardmap`: the map in force, with live source health. */
export interface ShardMapBody extends SourcesDetailBody {
  readonly version: string;
  readonly shardCount: number;
  readonly replicas: number;
  readonly spread: string;
  /** `readers` (> 1) only for a hot shard whose first owners share its requests (docs/hot-shards.md). */
  readonly shards: readonly { readonly shard: number; readonly owners: readonly string[]; readonly readers?: number }[];
  readonly endpoints: readonly EndpointBody[];
  readonly warnings: readonly string[];
  /** When this process published the map (each publish, also one that changed nothing in it). */
  readonly updatedAt: string;
  /**
   * When `version` came into force in this process: the same across republishes of that version,
   * moved by a new version (also one in force before). What clients order replicas' maps by.
   */
  readonly versionSince: string;
  /** Shards in transition and drains (docs/ownership.md); `shards` above is the routed map. */
  readonly handoff: HandoffBody;
  /** The hot-shard policy's decision in the target map (docs/hot-shards.md). */
  readonly hotShards: HotShardsBody;
}

/** One shard the hot-shard policy changed, and why. */
export interface HotShardBody {
  readonly shard: number;
  /** Requests per second the policy judged: the history's mean, or the last two windows' mean when that is higher beyond chance (docs/hot-shards.md). */
  readonly load: number;
  readonly owners: readonly string[];
  readonly readers: number;
  readonly reason: 'spread' | 'bounded-load';
  readonly explanation: string;
}

/** `hotShards` of `GET /v1/shardmap`. */
export interface HotShardsBody {
  /** Start of the newest load window the decision used; absent without load (plain rendezvous). */
  readonly window?: string;
  /** Shards served otherwise than by plain rendezvous, sorted by shard. */
  readonly shards: readonly HotShardBody[];
  /** Moves the last step of the policy made, and the ones the churn budget deferred. */
  readonly moves: number;
  readonly deferred: number;
  /** Modelled busiest node, load over weight share, with the policy and under plain rendezvous. */
  readonly maxLoadRatio?: number;
  readonly plainMaxLoadRatio?: number;
}

/** `GET /v1/shards/{shard}`. */
export interface ShardBody {
  readonly shard: number;
  readonly owners: readonly string[];
  readonly version: string;
  /** How many of `owners` share the shard's requests (1: the primary alone). */
  readonly readers: number;
  /** Present when the hot-shard policy changed the shard: why (docs/hot-shards.md). */
  readonly hotShard?: HotShardBody;
}

/** `GET /v1/lookup?key=K`. */
export interface LookupBody extends ShardBody {
  readonly key: string;
}

/** Moved shards whose primary went from `from` to `to` (absent: no owner) in one change. */
export interface PrimaryHandoverBody {
  readonly from?: string;
  readonly to?: string;
  readonly shards: number;
}

/** One change of `GET /v1/changes`. */
export interface ChangeBody {
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly at: string;
  /** How many shards moved: all of them, also when `moves` lists only the first N (`?moves=N`). */
  readonly movedShards: number;
  /** Every moved shard, sorted by shard; with `?moves=N`, the first N. */
  readonly moves: readonly ShardMove[];
  /** With `?moves=N` only: the largest primary hand-overs, largest first (at most 3). */
  readonly primaries?: readonly PrimaryHandoverBody[];
}

/** `GET /v1/changes`: recent shard-map changes, newest first. */
export interface ChangesBody {
  readonly changes: readonly ChangeBody[];
}

/**
 * Most rows one `GET /v1/proxies` page may ask for (`?limit=N`); more is a 400. Without `limit` the
 * whole list still comes at once, as before paging existed: scripts and older CLIs read it so. A
 * page is capped because its rows are built and serialized on the event loop that serves xDS: a row
 * with the default 100 names per type of three subscriptions of 150 names is about 7 KB and 0.2 ms,
 * so 1000 rows hold the loop about 0.2 s for a 7 MB body (10 000 such rows: 2 s, 68 MB).
 */
export const MAX_PROXIES_LIMIT = 1000;

/**
 * `GET /v1/proxies`: one row per connected proxy, sorted by id. `continue` is present when rows
 * follow this page (`?limit=N`): send it back as `?continue=` for the rows after the last one here.
 */
export interface ProxiesBody {
  readonly proxies: readonly ProxyStatus[];
  readonly continue?: string;
}

/** One shard in transition: routed to `from` until `warming` reports warm or `deadline` passes. */
export interface TransitionBody {
  readonly shard: number;
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly warming: string;
  readonly startedAt: string;
  readonly deadline: string;
}

/** The handoff state behind the routed map (`GET /v1/shardmap`, `handoff`). */
export interface HandoffBody {
  /** false when the topology file says `handoff: {enabled: false}`: every move flips at once. */
  readonly enabled: boolean;
  /** The version of the map the sharding stage computed; `version` when nothing is in transition. */
  readonly targetVersion: string;
  /** Sorted by shard. */
  readonly transitions: readonly TransitionBody[];
  /** Previous primaries still serving shards they lost, sorted by shard. */
  readonly drains: readonly { readonly shard: number; readonly node: string; readonly until: string }[];
}

/** `GET /v1/handoff?node=ID`: where one node stands in handing off and taking over shards. */
export interface NodeHandoffBody {
  readonly node: string;
  readonly ready: boolean;
  readonly draining: boolean;
  /** Shards routed to the node now, in any position / as primary. */
  readonly routedShards: number;
  readonly routedPrimary: number;
  /** Shards it is warming (it is their new primary). */
  readonly warming: number;
  /** Shards it still serves as primary while their new primary warms. */
  readonly handingOff: number;
  /** Shards it lost and should still serve until their drain ends. */
  readonly drainingShards: number;
  /** No shard is routed to it any more: a departing node may stop (a preStop hook waits for this). */
  readonly handedOff: boolean;
  readonly version: string;
}
