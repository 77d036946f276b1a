/**
 * Proxies as the rest of keyway sees them (docs/architecture.md "Vocabulary": proxy, flavor):
 * the xDS resource kinds, a proxy's flavor, and the per-proxy sync status row that the xDS server
 * keeps and `GET /v1/proxies` serves, read through {@link ProxyStatusReader}.
 */

/**
 * The resource types keyway serves: the four xDS kinds proxies route with, and `assignment`
 * (`keyway.v1.ShardAssignment`, docs/ownership.md), the shards one cache node serves, warms or drains.
 */
export type ResourceKind = 'cluster' | 'endpoint' | 'listener' | 'route' | 'assignment';

/**
 * Envoy (subset load balancing), proxyless gRPC (per-shard routes), or `agent`: a cache node's
 * ownership agent (`keyway/agent`, node.user_agent_name `keyway-agent`), which receives only its
 * shard assignments.
 */
export type ProxyFlavor = 'envoy' | 'grpc' | 'agent';

/**
 * The kinds a proxy of each flavor is served, in send order: what its `GET /v1/proxies` row lists.
 * Envoy and gRPC rows keep exactly the four xDS kinds; an agent's row lists `assignment` only.
 */
export const KINDS_OF_FLAVOR: Readonly<Record<ProxyFlavor, readonly ResourceKind[]>> = {
  envoy: ['cluster', 'endpoint', 'listener', 'route'],
  grpc: ['cluster', 'endpoint', 'listener', 'route'],
  agent: ['assignment'],
};

/**
 * SYNCED: the latest response was acknowledged. STALE: sent, no answer yet. NACKED: the latest
 * response was rejected (the proxy runs on its previous version). NOT_SENT: nothing sent yet.
 */
export type TypeSyncStatus = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';

export type StreamProtocol = 'sotw' | 'delta';
/** `ads` for the aggregated service, else the kind of the per-type service the stream uses. */
export type StreamService = 'ads' | ResourceKind;

export interface NackRecord {
  /** The version the proxy rejected (what keyway sent with that nonce). */
  readonly version: string;
  /** error_detail.message, as the proxy wrote it. */
  readonly message: string;
  /** ISO 8601 time the NACK arrived. */
  readonly at: string;
}

/** The per-type status row of a proxy. Times are ISO 8601. */
export interface TypeStatus {
  readonly status: TypeSyncStatus;
  /**
   * Wildcard (every resource of the kind) and/or explicit names: `count` names, of which at most a
   * bounded number (the first subscribed, sorted) are listed in `names` (docs/api.md).
   */
  readonly subscribed: { readonly wildcard: boolean; readonly names: readonly string[]; readonly count: number };
  readonly versionSent?: string;
  readonly sentAt?: string;
  readonly versionAcked?: string;
  readonly ackedAt?: string;
  readonly nonce?: string;
  readonly lastNack?: NackRecord;
  /** Resources the proxy holds from keyway of this kind (last full set in SotW; accumulated in delta). */
  readonly resources: number;
  /** The stream whose state this row shows. */
  readonly streamId?: string;
}

/**
 * Subscribed names a `GET /v1/proxies` row lists per type unless the caller asks for more
 * (docs/api.md): a subscription may hold up to the xDS server's names cap, and a row must stay small.
 */
export const DEFAULT_NAMES_SHOWN = 100;
/** Most names a caller may ask listed per type and row (the default names cap per subscription). */
export const MAX_NAMES_SHOWN = 100_000;

/** A proxy's locality from its xDS node, in keyway's spelling (`subzone` is the node's `sub_zone`). */
export interface ProxyLocality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

/** One row of `GET /v1/proxies`: a node id with all its streams merged. */
export interface ProxyStatus {
  readonly id: string;
  readonly cluster: string;
  readonly userAgent: string;
  readonly userAgentVersion: string;
  readonly flavor: ProxyFlavor;
  readonly locality: ProxyLocality;
  /** Key of the class whose snapshot the proxy is served: proxies with one key share one snapshot. */
  readonly proxyClass: string;
  /** ISO 8601 start of the oldest open stream. */
  readonly connectedSince: string;
  /** sotw or delta; `mixed` when its streams differ. */
  readonly protocol: StreamProtocol | 'mixed';
  /** ads, per-type (one stream per type), or mixed. */
  readonly service: 'ads' | 'per-type' | 'mixed';
  /**
   * Set when its streams come from more than one peer host: node id reuse (two proxies configured
   * alike, or one impersonating another); each stream's `peer` says who.
   */
  readonly conflict?: boolean;
  readonly streams: readonly {
    readonly id: string;
    readonly protocol: StreamProtocol;
    readonly service: StreamService;
    readonly connectedSince: string;
    /** `host:port` of the client connection. */
    readonly peer?: string;
  }[];
  /** Per kind the flavor is served ({@link KINDS_OF_FLAVOR}): the four xDS kinds, or `assignment` for an agent. */
  readonly types: Readonly<Partial<Record<ResourceKind, TypeStatus>>>;
}

/** A node whose row shows a NACKED type, with only those types ({@link ProxyStatusReader.nacking}). */
export interface NackingProxy {
  readonly id: string;
  readonly types: Readonly<Partial<Record<ResourceKind, Pick<TypeStatus, 'status' | 'lastNack'>>>>;
}

/**
 * A node's flavor and, per kind its row lists, the sync status its row shows, and nothing else
 * ({@link ProxyStatusReader.statuses}): what the proxy gauges and `keyway_degraded` count.
 */
export interface ProxySyncSummary {
  readonly id: string;
  readonly flavor: ProxyFlavor;
  readonly types: Readonly<Partial<Record<ResourceKind, { readonly status: TypeSyncStatus }>>>;
}

/**
 * The proxy-status reader: what the admin API may ask the xDS server (`GET /v1/proxies`,
 * `GET /debug/config_dump`). Read-only.
 */
export interface ProxyStatusReader {
  /** One row per connected node id; `namesShown` bounds the subscribed names listed per type. */
  proxies(opts?: { readonly namesShown?: number }): readonly ProxyStatus[];
  /** The row of one node id, or undefined when it is not connected. */
  proxy(nodeId: string, opts?: { readonly namesShown?: number }): ProxyStatus | undefined;
  /** What the node was last sent, as an `envoy.admin.v3.ConfigDump` in ProtoJSON; undefined if not connected. */
  configDump(nodeId: string): object | undefined;
  /** Ids of the connected nodes of one flavor, without building their rows (asked on every change). */
  nodeIds(flavor: ProxyFlavor): ReadonlySet<string>;
  /**
   * The nodes whose row shows a NACKED type, sorted by id, each with only those types, without
   * building every row: `/readyz` asks it on every probe. Absent: `/readyz` reads {@link proxies}.
   */
  nacking?(): readonly NackingProxy[];
  /**
   * Per connected node, in no set order, its flavor and per-kind sync status as its row shows them,
   * without building rows: every `/metrics` render asks it. Absent: readers use {@link proxies}.
   */
  statuses?(): readonly ProxySyncSummary[];
}
