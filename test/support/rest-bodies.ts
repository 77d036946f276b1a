/**
 * The shapes of keyway's REST answers as tests read them (docs/api.md), in one place: the tier 2
 * and end-to-end tests all decode the same bodies.
 */
import type { ProxyStatus } from '../../src/xds/server/index.js';

/** `GET /v1/shardmap`. */
export interface ShardMapBody {
  version: string;
  shardCount: number;
  replicas: number;
  spread: string;
  stale: boolean;
  shards: { shard: number; owners: string[] }[];
  endpoints: {
    id: string;
    address: string;
    port: number;
    locality: { region: string; zone: string; subzone: string };
    weight: number;
    ready: boolean;
    shardsOwned: number;
    shardsPrimary: number;
  }[];
  sources: { kind: string; healthy: boolean; stale: boolean; lastError?: string; staleSince?: string }[];
}

/** `GET /v1/proxies`: one row per connected proxy. */
export interface ProxiesBody {
  proxies: ProxyStatus[];
}

/** One proxy's row. */
export type ProxyRow = ProxyStatus;
