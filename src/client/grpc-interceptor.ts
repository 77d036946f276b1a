/**
 * A `@grpc/grpc-js` client interceptor that sets the `x-cache-shard` metadata the proxy (Envoy, or
 * gRPC's own xDS routing) routes on, from the call's key.
 */
import {
  InterceptingCall,
  Metadata,
  propagate,
  status,
  type Deadline,
  type Interceptor,
  type InterceptorOptions,
  type InterceptingListener,
  type NextCall,
} from '@grpc/grpc-js';
import { checkShardCount } from '../sharding/key-to-shard.js';
import { KEY_HEADER, SHARD_HEADER, shardFor, type CacheKey } from './shard.js';

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
   * The key of a call (a string, or bytes hashed as they are), or undefined to fall back to the
   * `x-cache-key` metadata; answered synchronously (a Promise ends the call with INTERNAL). When
   * given, the call starts (its metadata is sent) when the first request message is written.
   */
  readonly keyOf?: (call: ShardCallInfo) => CacheKey | undefined;
}

/**
 * Sets `x-cache-shard` on each call from its key: `keyOf(call)` when given and defined, otherwise
 * the call's `x-cache-key` metadata. A call that already carries `x-cache-shard`, has no key, or
 * carries `x-cache-key` more than once (which Envoy and the shard pickers refuse), is left alone.
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
  checkShardCount(shardCount);
  const setShard = (metadata: Metadata, key: CacheKey | undefined): void => {
    if (metadata.get(SHARD_HEADER).length > 0) return;
    // A key given more than once is left for the proxy or picker to refuse, as they do: a shard
    // set here from the first value would route the call where keyway's other readers never would.
    const values = metadata.get(KEY_HEADER);
    const fromMetadata = values.length === 1 ? values[0] : undefined;
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
    return keyedCall(options, nextCall, keyOf, setShard);
  };
}

type Start = (metadata: Metadata, listener: InterceptingListener) => void;
interface HeldStart {
  readonly metadata: Metadata;
  readonly listener: InterceptingListener;
  readonly next: Start;
}

/**
 * A call whose key comes from `keyOf`, which may need the request message: its start is held until
 * the first message (or the half close, for a stream that sends none). grpc-js buffers nothing
 * past us meanwhile. The inner call reports its status only to a listener it was started with,
 * so a call that ends while its start is held (cancelled, past its deadline) is ended here.
 */
function keyedCall(
  options: InterceptorOptions,
  nextCall: NextCall,
  keyOf: NonNullable<ShardInterceptorOptions['keyOf']>,
  setShard: (metadata: Metadata, key: CacheKey | undefined) => void,
): InterceptingCall {
  const inner = nextCall(options);
  let held: HeldStart | undefined;
  let unwatch = (): void => undefined;
  const take = (): HeldStart | undefined => {
    const h = held;
    held = undefined;
    unwatch();
    return h;
  };
  const startWith = (message: unknown): void => {
    const h = held;
    if (!h) return;
    const method = options.method_definition.path;
    try {
      const key: unknown = keyOf({ method, message, metadata: h.metadata, options });
      if (typeof (key as PromiseLike<unknown> | undefined)?.then === 'function') {
        // An async keyOf: the call cannot wait for it, and its rejection, unhandled, ended the process.
        Promise.resolve(key as PromiseLike<unknown>).catch(() => undefined);
        throw new TypeError('keyOf must answer synchronously (a string, bytes or undefined), got a Promise: is it an async function?');
      }
      if (key !== undefined && typeof key !== 'string' && !(key instanceof Uint8Array)) {
        throw new TypeError(`keyOf must answer a string, bytes (a Uint8Array) or undefined, got ${key === null ? 'null' : typeof key}`);
      }
      setShard(h.metadata, key);
    } catch (err) {
      // The application's bug, like a serializer's: the call ends with it, as grpc-js ends one whose
      // message does not serialize. Thrown out of write() or the call's method, it escaped the
      // caller's callback (and crashed a process that wrote from an event handler).
      return end(status.INTERNAL, `shardInterceptor: no shard for ${method}: ${err instanceof Error ? err.message : String(err)}`);
    }
    take();
    h.next(h.metadata, h.listener);
  };
  // The deadline (or the parent's cancellation) has already ended the inner call, or is about to,
  // and its status would reach no listener: give the caller that status from here.
  function end(code: status, details: string): void {
    const h = take();
    if (!h) return;
    inner.cancelWithStatus(code, details);
    process.nextTick(() => h.listener.onReceiveStatus({ code, details, metadata: new Metadata() }));
  }
  return new InterceptingCall(inner, {
    start(metadata, listener, next) {
      held = { metadata, listener, next };
      unwatch = watchEnd(options, end);
    },
    sendMessage(message, next) {
      startWith(message);
      next(message);
    },
    halfClose(next) {
      startWith(undefined);
      next();
    },
    cancel(next) {
      const h = take();
      next();
      // Started once cancelled, the inner call sends nothing and reports the cancel's own status
      // (whatever code the canceller gave) to the listener; the metadata never leaves.
      h?.next(h.metadata, h.listener);
    },
  });
}

/** Node's longest timer; grpc-js sets no deadline timer past it either. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `end` at the call's deadline (or its parent's, when propagated) and when its parent is
 * cancelled (when propagated), as grpc-js would end the call. Returns what stops watching.
 */
function watchEnd(options: InterceptorOptions, end: (code: status, details: string) => void): () => void {
  const { parent } = options;
  const flags = options.propagate_flags ?? propagate.DEFAULTS;
  let deadline = toMs(options.deadline);
  if (parent && flags & propagate.DEADLINE) deadline = Math.min(deadline, toMs(parent.getDeadline()));
  const wait = deadline - Date.now();
  const atDeadline = (): void => end(status.DEADLINE_EXCEEDED, 'Deadline exceeded');
  let timer: NodeJS.Timeout | undefined;
  if (wait <= 0) {
    // grpc-js ends a call whose deadline has passed on the next tick, not on a timer: a first
    // message written before a timer of ours fired (from setImmediate, an I/O callback) would
    // start the ended inner call, whose status then reaches no listener, and the call hung.
    // (end does nothing once the call has started or ended.)
    process.nextTick(atDeadline);
  } else if (wait <= MAX_TIMER_MS) {
    timer = setTimeout(atDeadline, wait);
  }
  const onCancelled = (): void => end(status.CANCELLED, 'Cancelled by parent call');
  // Every kind of server call is an EventEmitter; their union's `on` overloads do not unify.
  const emitter: NodeJS.EventEmitter | undefined = parent && flags & propagate.CANCELLATION ? parent : undefined;
  emitter?.on('cancelled', onCancelled);
  return () => {
    clearTimeout(timer);
    emitter?.removeListener('cancelled', onCancelled);
  };
}

/** A grpc-js deadline in ms since the epoch; Infinity when there is none. */
function toMs(deadline: Deadline | undefined): number {
  if (deadline === undefined) return Infinity;
  return deadline instanceof Date ? deadline.getTime() : deadline;
}
