/**
 * The parts of the REST API's bodies the CLI reads (docs/api.md). Fields are optional where a
 * server of another version might leave them out: the CLI renders what it gets.
 */

export interface ReadyzBody {
  readonly ready: boolean;
  readonly reason?: string;
  readonly version?: string;
  readonly shardCount?: number;
  readonly ownedShards?: number;
  readonly endpoints?: number;
  readonly readyEndpoints?: number;
  readonly warnings?: readonly string[];
  readonly stale?: boolean;
  readonly sources?: readonly { kind: string; healthy: boolean; stale: boolean; lastError?: string; lastUpdate?: string }[];
  readonly pipelineError?: string;
}

export interface LocalityBody {
  readonly region?: string;
  readonly zone?: string;
  readonly subzone?: string;
  /** The xDS node's spelling (`sub_zone`), used by `GET /v1/proxies`. */
  readonly subZone?: string;
}

export interface TypeStatusBody {
  readonly status?: string;
  readonly versionSent?: string;
  readonly versionAcked?: string;
  readonly lastNack?: { readonly version?: string; readonly message?: string; readonly at?: string };
}

export interface ProxyBody {
  readonly id: string;
  readonly cluster?: string;
  readonly userAgent?: string;
  readonly userAgentVersion?: string;
  readonly flavor?: string;
  readonly locality?: LocalityBody;
  readonly connectedSince?: string;
  readonly protocol?: string;
  readonly service?: string;
  readonly types?: Readonly<Record<string, TypeStatusBody | undefined>>;
}

export interface ProxiesBody {
  readonly proxies: readonly ProxyBody[];
}

export interface EndpointBody {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly locality: LocalityBody;
  readonly weight: number;
  readonly ready: boolean;
  readonly shardsOwned: number;
  readonly shardsPrimary: number;
}

export interface ShardMapBody {
  readonly version: string;
  readonly shardCount: number;
  readonly replicas: number;
  readonly spread: string;
  readonly shards: readonly { readonly shard: number; readonly owners: readonly string[] }[];
  readonly endpoints: readonly EndpointBody[];
  readonly warnings: readonly string[];
  readonly updatedAt?: string;
  readonly stale?: boolean;
}

export interface LookupBody {
  readonly key: string;
  readonly shard: number;
  readonly owners: readonly string[];
  readonly version: string;
}
