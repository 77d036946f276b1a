/**
 * Which streams still have body chunks passing through the picker (`PickerStream.passingBodies`,
 * what the server's close() waits for) when Envoy sends a direction's body in one message:
 * BUFFERED (the whole body; trailers may follow) and BUFFERED_PARTIAL (the body up to Envoy's
 * buffer limit; the rest goes on past the picker). After that message nothing more of the body
 * comes through keyway, so a shutdown must not hold such a stream for its grace and then cut it
 * (Envoy then aborts the response mid-stream; e2e/ext-proc-conformance.test.ts measures it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { PickerStream, pickTable } from '../../src/extproc/index.js';
import { ProcessingRequestSchema, type ProcessingRequest } from '../../src/xds/proto.js';
import { state } from './three-nodes.js';

const STREAMED = 1;
const BUFFERED = 2;
const BUFFERED_PARTIAL = 3;
const FULL_DUPLEX_STREAMED = 4;

/** `req` as it comes off the wire, with Envoy's `protocol_config` (field 11) when given. */
function wire(req: ProcessingRequest, modes?: { request: number; response: number }): ProcessingRequest {
  const bytes = toBinary(ProcessingRequestSchema, req);
  if (!modes) return fromBinary(ProcessingRequestSchema, bytes);
  const inner = new BinaryWriter().tag(1, WireType.Varint).int32(modes.request).tag(2, WireType.Varint).int32(modes.response).finish();
  const extra = new BinaryWriter().tag(11, WireType.LengthDelimited).bytes(inner).finish();
  return fromBinary(ProcessingRequestSchema, new Uint8Array([...bytes, ...extra]));
}

const headers = (c: 'requestHeaders' | 'responseHeaders') =>
  create(ProcessingRequestSchema, { request: { case: c, value: { headers: { headers: [{ key: 'x-cache-shard', rawValue: new TextEncoder().encode('1') }] } } } });
const body = (c: 'requestBody' | 'responseBody', endOfStream: boolean) =>
  create(ProcessingRequestSchema, { request: { case: c, value: { body: new Uint8Array(64), endOfStream } } });

function stream(): PickerStream {
  const view = state.current()!;
  return new PickerStream({ table: () => pickTable(view), rotation: () => 0 });
}

for (const mode of [BUFFERED, BUFFERED_PARTIAL]) {
  test(`request body mode ${mode}: its one body message, end of stream or not, ends what passes through keyway`, () => {
    const s = stream();
    s.answer(wire(headers('requestHeaders'), { request: mode, response: 0 }));
    assert.equal(s.passingBodies, true, 'the body message is still to come');
    // BUFFERED_PARTIAL past the buffer limit, or BUFFERED with trailers: no end of stream.
    s.answer(wire(body('requestBody', false)));
    assert.equal(s.passingBodies, false, 'the rest of the body goes on past keyway');
    assert.equal(s.done, false, 'the stream itself stays open until Envoy half-closes it');
  });

  test(`response body mode ${mode}: its one body message ends what passes through keyway`, () => {
    const s = stream();
    s.answer(wire(headers('requestHeaders'), { request: 0, response: mode }));
    s.answer(wire(headers('responseHeaders')));
    assert.equal(s.passingBodies, true);
    s.answer(wire(body('responseBody', false)));
    assert.equal(s.passingBodies, false);
  });
}

for (const mode of [STREAMED, FULL_DUPLEX_STREAMED]) {
  test(`body mode ${mode}: a chunk without end of stream leaves the body passing through keyway`, () => {
    const s = stream();
    s.answer(wire(headers('requestHeaders'), { request: mode, response: 0 }));
    s.answer(wire(body('requestBody', false)));
    assert.equal(s.passingBodies, true, 'more chunks come through keyway');
    s.answer(wire(body('requestBody', true)));
    assert.equal(s.passingBodies, false);
  });
}
