/**
 * The outbox writes a large response in pieces (outbox.ts WRITE_PIECE_BYTES) when the call takes
 * frames as they are: together they are the response's gRPC frame, each piece taken counts as
 * progress against the stall limit, and small responses and calls that frame themselves are
 * written whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamOutbox, WRITE_PIECE_BYTES, type WritableCall } from '../../../src/xds/server/outbox.js';
import { FramePiece } from '../../../src/xds/server/grpc-framing.js';
import { SharedResponse } from '../../../src/xds/server/wire.js';

/** A call that records what is written and completes writes when the test says the proxy took them. */
function recordingCall() {
  const written: (Uint8Array | SharedResponse | FramePiece)[] = [];
  const pending: (() => void)[] = [];
  const call: WritableCall = {
    write(chunk, done) {
      written.push(chunk);
      pending.push(() => done());
      return true;
    },
    once: () => undefined,
  };
  return { call, written, pending };
}

const bytesOf = (c: Uint8Array | SharedResponse | FramePiece): Buffer =>
  c instanceof FramePiece ? c.bytes : c instanceof SharedResponse ? c.framed : Buffer.from(c);

function frame(body: Uint8Array): Buffer {
  const f = Buffer.alloc(5 + body.byteLength);
  f.writeUInt32BE(body.byteLength, 1);
  f.set(body, 5);
  return f;
}

const body = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);

test('a large response goes out as pieces that together are its gRPC frame', () => {
  const limits = { highWaterBytes: 1 << 30, maxBufferedBytes: 1 << 30, writeStallMs: 60_000 };
  const b = body(3 * WRITE_PIECE_BYTES + 123);
  for (const response of [new SharedResponse(frame(b), 'n1'), b]) {
    const { call, written } = recordingCall();
    const outbox = new StreamOutbox(call, limits, { onWritable: () => undefined, onOverLimit: () => assert.fail('no limit') }, true);
    outbox.write(response);
    assert.equal(written.length, 4);
    assert.ok(written.every((c) => c instanceof FramePiece && c.bytes.byteLength <= WRITE_PIECE_BYTES));
    assert.deepEqual(Buffer.concat(written.map(bytesOf)), frame(b));
    assert.equal(outbox.undelivered, 5 + b.byteLength);
    outbox.dispose();
  }
  // Small ones, and calls that frame messages themselves, are written whole.
  const small = new SharedResponse(frame(body(100)), 'n2');
  const { call, written } = recordingCall();
  new StreamOutbox(call, limits, { onWritable: () => undefined, onOverLimit: () => undefined }, true).write(small);
  assert.deepEqual(written, [small]);
  const plain = recordingCall();
  new StreamOutbox(plain.call, limits, { onWritable: () => undefined, onOverLimit: () => undefined }, false).write(new SharedResponse(frame(b), 'n3'));
  assert.equal(plain.written.length, 1);
  assert.deepEqual(Buffer.from(plain.written[0] as Uint8Array), Buffer.from(b));
});

test('each piece the proxy takes restarts the stall clock', async () => {
  const reasons: string[] = [];
  const { call, written, pending } = recordingCall();
  const outbox = new StreamOutbox(call, { highWaterBytes: 1 << 30, maxBufferedBytes: 1 << 30, writeStallMs: 200 }, { onWritable: () => undefined, onOverLimit: (r) => reasons.push(r) }, true);
  outbox.write(new SharedResponse(frame(body(4 * WRITE_PIECE_BYTES)), 'n'));
  assert.equal(written.length, 5);
  // One piece taken every 120 ms: 600 ms in all, three times the stall limit, never 200 ms idle.
  for (let i = 0; i < 5; i++) {
    await sleep(120);
    pending.shift()!();
  }
  assert.deepEqual(reasons, []);
  assert.equal(outbox.undelivered, 0);
  // Then a response nobody takes: cut after the stall time.
  outbox.write(new SharedResponse(frame(body(10)), 'm'));
  await sleep(400);
  assert.match(reasons[0] ?? '', /read none of 15 undelivered bytes in 200 ms/);
  outbox.dispose();
});
