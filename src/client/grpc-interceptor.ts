/**
 * A `@grpc/grpc-js` client interceptor that sets the `x-cache-shard` metadata the proxy (Envoy, or
 * gRPC's own xDS routing) routes on, from the call's key.
 */
import { InterceptingCall, type Interceptor, type InterceptorOptions, type InterceptingListener, type Metadata } from '@grpc/grpc-js';
import { KEY_HEADER, SHARD_HEADER, shardFor } from './shard.js';
import { KeywayError } from '../core/errors.js';

/** What `keyOf` sees of a call. */
export interface ShardCallInfo {
  /** The method path, e.g. `/keyway.example.cache.v1.Cache/Get`. */
  readonly method: string;
  /** The first request message (for streaming requests, the first one written). */
  readonly message: unknown;
  readonly metadata: Metadata;
  readonly options: InterceptorOptions;
}

export interface ShardInterceptorOptions {
  /** S, the deployment's shard count. */
  readonly shardCount: number;
  /**
   * The key of a call, or undefined to fall back to the `x-cache-key` metadata. When given, the
   * call starts (its metadata is sent) when the first request message is written.
   */
  readonly keyOf?: (call: ShardCallInfo) => string | undefined;
}

/**
 * Sets `x-cache-shard` on each call from its key: `keyOf(call)` when given and defined, otherwise
 * the call's `x-cache-key` metadata. A call that already carries `x-cache-shard`, or has no key,
 * is left alone.
 *
 * ```ts
 * const client = new Cache(target, credentials.createInsecure(), {
 *   interceptors: [shardInterceptor({ shardCount: 1024, keyOf: ({ message }) => (message as { key: string }).key })],
 * });
 * ```
 * @throws KeywayError BAD_ARGUMENT unless shardCount is an integer >= 1
 */
export function shardInterceptor(opts: ShardInterceptorOptions): Interceptor {
  const { shardCount, keyOf } = opts;
  if (!Number.isSafeInteger(shardCount) || shardCount < 1) {
    throw new KeywayError('BAD_ARGUMENT', `shard count must be an integer >= 1, got ${String(shardCount)}`, { field: 'shardCount' });
  }
  const setShard = (metadata: Metadata, key: string | undefined): void => {
    if (metadata.get(SHARD_HEADER).length > 0) return;
    const fromMetadata = metadata.get(KEY_HEADER)[0];
    const k = key ?? (typeof fromMetadata === 'string' ? fromMetadata : undefined);
    if (k !== undefined) metadata.set(SHARD_HEADER, String(shardFor(k, shardCount)));
  };

  return (options, nextCall) => {
    if (!keyOf) {
      return new InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          setShard(metadata, undefined);
          next(metadata, listener);
        },
      });
    }
    // keyOf may need the request message: hold the start until the first message (or the half
    // close, for a stream that sends none). grpc-js buffers nothing past us meanwhile.
    let pending: { metadata: Metadata; listener: InterceptingListener; next: (metadata: Metadata, listener: InterceptingListener) => void } | undefined;
    const startWith = (message: unknown): void => {
      if (!pending) return;
      const { metadata, listener, next } = pending;
      pending = undefined;
      setShard(metadata, keyOf({ method: options.method_definition.path, message, metadata, options }));
      next(metadata, listener);
    };
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        pending = { metadata, listener, next };
      },
      sendMessage(message, next) {
        startWith(message);
        next(message);
      },
      halfClose(next) {
        startWith(undefined);
        next();
      },
    });
  };
}
