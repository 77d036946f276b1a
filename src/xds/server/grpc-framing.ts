/**
 * Lets grpc-js write a SharedResponse's gRPC frame as it is. grpc-js frames every message it sends
 * (a new buffer of 5 + length bytes and a copy of the message, per stream and response), which for
 * a response shared by thousands of streams is thousands of copies of the same bytes and the
 * garbage they leave. Its server call (1.14: `BaseServerInterceptingCall.serializeMessage`) is
 * taught, once, to hand a SharedResponse's `framed` buffer straight to HTTP/2; every other message
 * is framed by grpc-js as before. Where that shape is missing (another grpc-js), streams write the
 * response body and grpc-js frames it: the same bytes on the wire, one copy more.
 */
import { SharedResponse } from './wire.js';

const PATCHED = Symbol.for('keyway.xds.sharedFrames');

type SerializeMessage = (this: unknown, value: unknown) => Buffer;

/**
 * Makes `call` (a grpc-js server stream) write SharedResponse objects as their own frame; true
 * when that holds (then pass the SharedResponse itself to `call.write`), false when grpc-js does
 * not have the expected shape (then write `response.body`).
 */
export function acceptsSharedFrames(call: unknown): boolean {
  const internal = (call as { call?: object }).call;
  if (!internal) return false;
  const proto = Object.getPrototypeOf(internal) as Record<string | symbol, unknown> | null;
  if (!proto) return false;
  if (proto[PATCHED] === true) return true;
  const original = proto.serializeMessage;
  if (typeof original !== 'function') return false;
  const serialize = original as SerializeMessage;
  proto.serializeMessage = function (this: unknown, value: unknown): Buffer {
    return value instanceof SharedResponse ? value.framed : serialize.call(this, value);
  };
  proto[PATCHED] = true;
  return true;
}
