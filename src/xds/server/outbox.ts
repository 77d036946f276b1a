/**
 * Backpressure of one xDS stream (docs/security.md "xDS streams"): counts the bytes written to the
 * gRPC call that the proxy has not taken yet (grpc-js calls a write's callback once HTTP/2 flow
 * control let its bytes out), honours `write()`'s return value and 'drain', and reports when the
 * stream should wait, may go on, or must be closed because it holds too much or stopped reading.
 */
import type { XdsStreamLimits } from './stream-limits.js';
import type { SharedResponse } from './wire.js';

/** The part of a grpc-js server stream the outbox writes to. */
export interface WritableCall {
  write(chunk: Uint8Array | SharedResponse, callback: (err?: Error | null) => void): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface OutboxEvents {
  /** The backlog went back under the high-water mark: waiting responses may be built and written. */
  onWritable(): void;
  /** A limit was hit (too many undelivered bytes, or none read for too long): close the stream. */
  onOverLimit(reason: string): void;
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
   * @param sharedFrames the call writes a SharedResponse as its own gRPC frame (grpc-framing.ts);
   *   otherwise the response body is written and grpc-js frames it.
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
    const chunk = response instanceof Uint8Array || this.sharedFrames ? response : response.body;
    const size = chunk instanceof Uint8Array ? chunk.byteLength : chunk.framed.byteLength;
    this.#undelivered += size;
    const ok = this.call.write(chunk, () => this.#delivered(size));
    if (!ok && !this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.call.once('drain', () => {
        this.#waitingForDrain = false;
        this.#maybeWritable();
      });
    }
    if (this.#undelivered > this.limits.maxBufferedBytes) {
      this.#overLimit(`${this.#undelivered} bytes undelivered exceed the limit of ${this.limits.maxBufferedBytes}`);
      return;
    }
    if (!this.#stall) {
      this.#stall = setTimeout(
        () => this.#overLimit(`the proxy read none of ${this.#undelivered} undelivered bytes in ${this.limits.writeStallMs} ms`),
        this.limits.writeStallMs,
      );
      this.#stall.unref();
    }
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

  #overLimit(reason: string): void {
    if (this.#over) return;
    this.dispose();
    this.events.onOverLimit(reason);
  }
}
