/**
 * What the gRPC fuzz tests share (fuzz.test.ts here, test/extproc/fuzz.test.ts): a seeded PRNG,
 * byte mutators, hand-built hostile protobuf (deep nesting), raw gRPC calls that never wait
 * without bound, and a watch for errors that escape to the process. Longer campaign:
 * `KEYWAY_FUZZ_ITERATIONS=20000 KEYWAY_FUZZ_SEED=7 node --import tsx --test <file>`.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { Client, credentials, Metadata, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { Rng as SeededRng } from '../../support/seeded-random.js';

export { fuzzBudget } from '../../support/seeded-random.js';

/** The shared seeded generator, with strings that tend to break things. */
export class Rng extends SeededRng {
  /** Short strings that tend to break things: empty, wildcard, prototype keys, odd Unicode, long. */
  string(): string {
    switch (this.int(8)) {
      case 0:
        return '';
      case 1:
        return this.pick(['*', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '\u0000', '\ud800', '😀', 'keyway-agent', 'gRPC Go']);
      case 2:
        return 'x'.repeat(this.int(5000));
      default:
        return Array.from({ length: this.int(12) }, () => String.fromCharCode(32 + this.int(95))).join('');
    }
  }
}

/** A random unknown field (any wire type, any field number) appended to `bytes`. */
function unknownField(rng: Rng): Uint8Array {
  const w = new BinaryWriter();
  const no = rng.chance(0.5) ? 1 + rng.int(20) : 1 + rng.int((1 << 29) - 1);
  switch (rng.int(6)) {
    case 0:
      w.tag(no, WireType.Varint).uint64(BigInt.asUintN(64, BigInt(rng.int(2 ** 31)) << BigInt(rng.int(33))));
      break;
    case 1:
      w.tag(no, WireType.Bit64).fixed64(rng.int(2 ** 31));
      break;
    case 2:
      w.tag(no, WireType.Bit32).fixed32(rng.int(2 ** 31));
      break;
    case 3:
      w.tag(no, WireType.LengthDelimited).bytes(rng.bytes(rng.int(40)));
      break;
    case 4:
      w.tag(no, WireType.StartGroup).tag(no, WireType.EndGroup);
      break;
    default:
      // A bare tag with no value, or an end-group that closes nothing.
      w.tag(no, rng.pick([WireType.EndGroup, WireType.LengthDelimited, WireType.Varint]));
  }
  return w.finish();
}

const concat = (...parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** One random mutation of an encoded message: bit flips, truncation, insertion, unknown fields, splices. */
export function mutate(rng: Rng, bytes: Uint8Array, others: readonly Uint8Array[]): Uint8Array {
  switch (rng.int(8)) {
    case 0: {
      const out = bytes.slice();
      for (let i = 0, n = 1 + rng.int(8); i < n && out.length > 0; i++) out[rng.int(out.length)]! ^= 1 << rng.int(8);
      return out;
    }
    case 1:
      return bytes.slice(0, rng.int(bytes.length + 1));
    case 2: {
      const at = rng.int(bytes.length + 1);
      return concat(bytes.subarray(0, at), rng.bytes(1 + rng.int(16)), bytes.subarray(at));
    }
    case 3:
      return concat(bytes, ...Array.from({ length: 1 + rng.int(4) }, () => unknownField(rng)));
    case 4:
      // Unknown fields first: they land in $unknown of the top message.
      return concat(unknownField(rng), bytes);
    case 5:
      // Two messages merged (protobuf concatenation), or a splice of two.
      return rng.chance(0.5) ? concat(bytes, rng.pick(others)) : concat(bytes.subarray(0, rng.int(bytes.length + 1)), rng.pick(others).subarray(rng.int(8)));
    case 6:
      return rng.bytes(rng.int(64));
    default: {
      const out = bytes.slice();
      if (out.length > 0) out[rng.int(out.length)] = rng.pick([0x00, 0x7f, 0x80, 0xff]);
      return out;
    }
  }
}

/** A length-delimited field `no` holding `inner`. */
export function lengthDelimited(no: number, inner: Uint8Array): Uint8Array {
  return new BinaryWriter().tag(no, WireType.LengthDelimited).bytes(inner).finish();
}

/**
 * A google.protobuf.Value nested `depth` times (`list_value { values { list_value { ... } } }`),
 * built outside-in without recursion, so depths past the stack's are cheap to make.
 */
export function deepValue(depth: number): Uint8Array {
  // Value.list_value = 6, ListValue.values = 1; the innermost is Value{bool_value: true}.
  const leaf = new BinaryWriter().tag(4, WireType.Varint).bool(true).finish();
  const tags = [0x32, 0x0a];
  const lengths: number[] = [];
  let size = leaf.length;
  for (let i = 0; i < 2 * depth; i++) {
    lengths.push(size);
    size += 1 + varintSize(size);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = lengths.length - 1; i >= 0; i--) {
    out[at++] = tags[(lengths.length - 1 - i) % 2]!;
    at = writeVarint(out, at, lengths[i]!);
  }
  out.set(leaf, at);
  return out;
}

/** A google.protobuf.Struct `{"k": <deepValue(depth)>}`. */
export function deepStruct(depth: number): Uint8Array {
  const entry = concat(new BinaryWriter().tag(1, WireType.LengthDelimited).string('k').finish(), lengthDelimited(2, deepValue(depth)));
  return lengthDelimited(1, entry);
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

const identity = (b: Buffer): Buffer => b;

/**
 * How a bidi stream is driven: write all then half-close, half-close first, cancel mid-way, write
 * without reading, or converse (the next message after each response, or after a pause, given
 * that response so it can carry its nonce: ACKs and NACKs).
 */
export type StreamPattern = 'half-close' | 'close-first' | 'cancel' | 'no-read' | 'converse';

/** For 'converse': the next message to send after `response` (its bytes), or after a pause (undefined). */
export type Reply = (message: Uint8Array, response: Uint8Array | undefined) => Uint8Array;

/** What one call ended with; `hung` when no status came within the bound. */
export interface CallOutcome {
  readonly status?: StatusObject;
  readonly messages: number;
  readonly hung: boolean;
}

/** Opens a raw gRPC channel (no message limits of our own: the server's are what is tested). */
export function rawClient(port: number): Client {
  return new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
}

/**
 * One bidi call of `path` sending `messages` as they are, driven by `pattern`; resolves with its
 * status, or `hung` after `boundMs` (the call is then cancelled).
 */
export function rawBidi(client: Client, path: string, messages: readonly Uint8Array[], pattern: StreamPattern, boundMs: number, reply?: Reply): Promise<CallOutcome> {
  const call = client.makeBidiStreamRequest(path, identity, identity, new Metadata());
  let messages_ = 0;
  return new Promise<CallOutcome>((resolve) => {
    let pause: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      call.cancel();
      resolve({ messages: messages_, hung: true });
    }, boundMs);
    call.on('error', () => undefined);
    call.on('status', (status: StatusObject) => {
      clearTimeout(timer);
      clearTimeout(pause);
      resolve({ status, messages: messages_, hung: false });
    });
    const toBuffer = (m: Uint8Array): Buffer => Buffer.from(m.buffer, m.byteOffset, m.byteLength);
    if (pattern === 'converse') {
      let next = 0;
      const send = (response: Uint8Array | undefined): void => {
        clearTimeout(pause);
        if (next >= messages.length) {
          call.end();
          return;
        }
        const m = messages[next++]!;
        call.write(toBuffer(reply ? reply(m, response) : m));
        pause = setTimeout(() => send(undefined), 30);
      };
      call.on('data', (b: Buffer) => {
        messages_++;
        send(b);
      });
      send(undefined);
      return;
    }
    const read = (): void => {
      call.on('data', () => {
        messages_++;
        if (pattern === 'cancel') call.cancel();
      });
    };
    if (pattern === 'close-first') {
      call.end();
      read();
      return;
    }
    if (pattern !== 'no-read') read();
    for (const m of messages) call.write(toBuffer(m));
    if (pattern === 'cancel' && messages.length === 0) call.cancel();
    else if (pattern === 'cancel') setTimeout(() => call.cancel(), 20).unref();
    else call.end();
    // A client that reads nothing until it has sent everything (then reads, so the status can come).
    if (pattern === 'no-read') setTimeout(read, 20).unref();
  });
}

/** One unary (or server-streaming, `serverStream`) call with raw bytes; resolves with its status or `hung`. */
export function rawUnary(client: Client, path: string, message: Uint8Array, boundMs: number, serverStream = false): Promise<CallOutcome> {
  return new Promise<CallOutcome>((resolve) => {
    let messages = 0;
    const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    if (serverStream) {
      const call = client.makeServerStreamRequest(path, identity, identity, buf, new Metadata());
      const timer = setTimeout(() => {
        call.cancel();
        resolve({ messages, hung: true });
      }, boundMs);
      call.on('error', () => undefined);
      // A watch never ends by itself: one answer (or none) is enough, then cancel.
      call.on('data', () => {
        messages++;
        call.cancel();
      });
      call.on('status', (status: StatusObject) => {
        clearTimeout(timer);
        resolve({ status, messages, hung: false });
      });
      return;
    }
    const call = client.makeUnaryRequest(path, identity, identity, buf, new Metadata(), (err: ServiceError | null) => {
      void err;
    });
    const timer = setTimeout(() => {
      call.cancel();
      resolve({ messages, hung: true });
    }, boundMs);
    call.on('metadata', () => undefined);
    call.on('status', (status: StatusObject) => {
      clearTimeout(timer);
      resolve({ status, messages, hung: false });
    });
  });
}

/**
 * Records every error that escapes to the process while the test runs (a throw in a grpc-js
 * event handler, a rejected promise nobody awaits): each one would end `keyway serve`.
 */
export function watchEscapes(): { readonly escaped: unknown[]; stop(): void } {
  const escaped: unknown[] = [];
  const onError = (err: unknown): void => void escaped.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    escaped,
    stop() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

/** Runs `tasks` with at most `width` at once. */
export async function pool<T>(width: number, count: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}
