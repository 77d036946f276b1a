/**
 * Lets grpc-js write a SharedResponse's gRPC frame as it is. grpc-js frames every message it sends
 * (a new buffer of 5 + length bytes and a copy of the message, per stream and response), which for
 * a response shared by thousands of streams is thousands of copies of the same bytes and the
 * garbage they leave. Its server call (1.14: `BaseServerInterceptingCall.serializeMessage`) is
 * taught, once, to hand a SharedResponse's `framed` buffer straight to HTTP/2; every other message
 * is framed by grpc-js as before. Where that shape is missing (another grpc-js), streams write the
 * response body and grpc-js frames it: the same bytes on the wire, one copy more.
 *
 * The same door lets a stream write one frame as several {@link FramePiece}s (outbox.ts), each its
 * own HTTP/2 write whose completion shows the proxy took that much: a large response written whole
 * showed no progress until its last byte was taken.
 */
import { SharedResponse } from './wire.js';

/**
 * Bytes written to HTTP/2 as they are: a slice of a gRPC frame. The slices of one frame are written
 * back to back, so the proxy reads the frame whole. (grpc-js counts each as a message sent in its
 * channelz statistics, which keyway does not expose.)
 */
export class FramePiece {
  constructor(readonly bytes: Buffer) {}
}

const PATCHED = Symbol.for('keyway.xds.sharedFrames');

type SerializeMessage = (this: unknown, value: unknown) => Buffer;

/**
 * Makes `call` (a grpc-js server stream) write SharedResponse objects as their own frame and
 * FramePiece objects as they are; true when that holds (then pass those objects to `call.write`),
 * false when grpc-js does not have the expected shape (then write `response.body`).
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
    if (value instanceof SharedResponse) return value.framed;
    if (value instanceof FramePiece) return value.bytes;
    return serialize.call(this, value);
  };
  proto[PATCHED] = true;
  return true;
}
