/**
 * Backpressure of one xDS stream (docs/security.md "xDS streams"): counts the bytes written to the
 * gRPC call that the proxy has not taken yet (grpc-js calls a write's callback once HTTP/2 flow
 * control let its bytes out), honours `write()`'s return value and 'drain', and reports when the
 * stream should wait, may go on, or must be closed because it holds too much or stopped reading.
 */
import type { XdsStreamLimits } from './stream-limits.js';
import type { StreamLimitReason } from './events.js';
import { GRPC_FRAME_HEADER, SharedResponse } from './wire.js';
import { FramePiece } from './grpc-framing.js';

/**
 * Bytes of a gRPC frame written at once, when the call writes frames as they are. A write's
 * callback fires only once all its bytes are taken, so a response written whole showed a proxy
 * reading a large one slowly as one that read nothing, and the stall limit reset it again at
 * each reconnect; in pieces, each piece taken shows progress (docs/security.md "xDS streams").
 */
export const WRITE_PIECE_BYTES = 256 * 1024;

/** The part of a grpc-js server stream the outbox writes to. */
export interface WritableCall {
  write(chunk: Uint8Array | SharedResponse | FramePiece, callback: (err?: Error | null) => void): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface OutboxEvents {
  /** The backlog went back under the high-water mark: waiting responses may be built and written. */
  onWritable(): void;
  /** A limit was hit (too many undelivered bytes, or none read for too long): close the stream. `limit` says which. */
  onOverLimit(reason: string, limit: Extract<StreamLimitReason, 'write_stall' | 'buffered_bytes'>): void;
}

/** Where a session writes; `writable` false means: hold the response, the proxy is behind. */
export interface StreamOutput {
  readonly writable: boolean;
  /** Writes one response: its encoded bytes, or a response shared by many streams. */
  write(response: Uint8Array | SharedResponse): void;
}

/**
 * The writer of one xDS stream (docs/security.md "xDS streams"): a proxy that stops reading is cut
 * off instead of making keyway buffer for it without bound.
 */
export class StreamOutbox implements StreamOutput {
  #undelivered = 0;
  #waitingForDrain = false;
  #stall: NodeJS.Timeout | undefined;
  #over = false;

  /**
   * @param sharedFrames the call writes a SharedResponse as its own gRPC frame and a FramePiece as
   *   it is (grpc-framing.ts), so a large response goes out in pieces; otherwise the response body
   *   is written whole and grpc-js frames it.
   */
  constructor(
    private readonly call: WritableCall,
    private readonly limits: Pick<XdsStreamLimits, 'highWaterBytes' | 'maxBufferedBytes' | 'writeStallMs'>,
    private readonly events: OutboxEvents,
    private readonly sharedFrames = false,
  ) {}

  /** Bytes written and not yet taken by the proxy's connection. */
  get undelivered(): number {
    return this.#undelivered;
  }

  get writable(): boolean {
    return !this.#over && !this.#waitingForDrain && this.#undelivered < this.limits.highWaterBytes;
  }

  write(response: Uint8Array | SharedResponse): void {
    if (this.#over) return;
    let ok = true;
    for (const chunk of this.#chunks(response)) {
      const size = chunk instanceof Uint8Array ? chunk.byteLength : chunk instanceof FramePiece ? chunk.bytes.byteLength : chunk.framed.byteLength;
      this.#undelivered += size;
      ok = this.call.write(chunk, () => this.#delivered(size)) && ok;
    }
    if (!ok && !this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.call.once('drain', () => {
        this.#waitingForDrain = false;
        this.#maybeWritable();
      });
    }
    if (this.#undelivered > this.limits.maxBufferedBytes) {
      this.#overLimit(`${this.#undelivered} bytes undelivered exceed the limit of ${this.limits.maxBufferedBytes}`, 'buffered_bytes');
      return;
    }
    if (!this.#stall) {
      this.#stall = setTimeout(
        () => this.#overLimit(`the proxy read none of ${this.#undelivered} undelivered bytes in ${this.limits.writeStallMs} ms`, 'write_stall'),
        this.limits.writeStallMs,
      );
      this.#stall.unref();
    }
  }

  /** What to write for `response`: its frame in pieces when it is large and the call takes frames as they are. */
  #chunks(response: Uint8Array | SharedResponse): readonly (Uint8Array | SharedResponse | FramePiece)[] {
    if (!this.sharedFrames) return [response instanceof Uint8Array ? response : response.body];
    const size = response instanceof Uint8Array ? GRPC_FRAME_HEADER + response.byteLength : response.framed.byteLength;
    if (size <= WRITE_PIECE_BYTES) return [response];
    const framed = response instanceof Uint8Array ? frameOf(response) : response.framed;
    const pieces: FramePiece[] = [];
    for (let at = 0; at < framed.byteLength; at += WRITE_PIECE_BYTES) pieces.push(new FramePiece(framed.subarray(at, at + WRITE_PIECE_BYTES)));
    return pieces;
  }

  /** Stops the stall timer (the stream is gone). */
  dispose(): void {
    this.#over = true;
    if (this.#stall) clearTimeout(this.#stall);
    this.#stall = undefined;
  }

  #delivered(size: number): void {
    this.#undelivered -= size;
    if (this.#stall) {
      if (this.#undelivered > 0) this.#stall.refresh();
      else {
        clearTimeout(this.#stall);
        this.#stall = undefined;
      }
    }
    this.#maybeWritable();
  }

  #maybeWritable(): void {
    if (this.writable) this.events.onWritable();
  }

  #overLimit(reason: string, limit: Parameters<OutboxEvents['onOverLimit']>[1]): void {
    if (this.#over) return;
    this.dispose();
    this.events.onOverLimit(reason, limit);
  }
}

/** The gRPC frame of a message (flag 0: not compressed; the length, big-endian; the bytes), as grpc-js would build it. */
function frameOf(body: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(GRPC_FRAME_HEADER + body.byteLength);
  framed.writeUInt8(0, 0);
  framed.writeUInt32BE(body.byteLength, 1);
  framed.set(body, GRPC_FRAME_HEADER);
  return framed;
}
