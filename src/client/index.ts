/**
 * keyway/client: route by key from an application (docs/clients.md). Hash contract 1 (`shardFor`),
 * the headers the proxy routes on (`shardHeaders`, `withShardHeader`), a gRPC interceptor
 * (`shardInterceptor`), and a live copy of the shard map (`ShardMapClient`).
 */
export { shardFor, hashTag, shardHeaders, withShardHeader, SHARD_HEADER, KEY_HEADER, type CacheKey, type ShardHeaderOptions } from './shard.js';
export {
  ShardMapClient,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_BACKOFF_MS,
  POLL_JITTER,
  type Owner,
  type ShardMapClientOptions,
} from './shard-map-client.js';
export { shardInterceptor, type ShardInterceptorOptions, type ShardCallInfo } from './grpc-interceptor.js';
export { KeywayError, ERROR_CODES, type KeywayErrorCode } from '../core/errors.js';
