/**
 * Two ext_proc fields newer than the Envoy API copy keyway compiles (proto/files.txt draws on
 * @grpc/grpc-js-xds's deps/, which predate them), read and written by field number as Envoy's
 * `envoy/service/ext_proc/v3/external_processor.proto` defines them:
 * - `ProcessingRequest.protocol_config = 11` (`ProtocolConfiguration{request_body_mode = 1,
 *   response_body_mode = 2}`), sent on a stream's first message: how Envoy sends bodies;
 * - `BodyMutation.streamed_response = 3` (`StreamedBodyResponse{body = 1, end_of_stream = 2}`):
 *   in `FULL_DUPLEX_STREAMED` mode the processor hands every body chunk back through it, so a
 *   pass-through must echo each chunk there.
 * protobuf-es keeps unknown fields on decode and writes them on encode, so nothing else changes.
 */
import type { UnknownField } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { KeywayError } from '../core/errors.js';

/** `ProcessingMode.BodySendMode.FULL_DUPLEX_STREAMED`. */
export const FULL_DUPLEX_STREAMED = 4;

/**
 * Whether Envoy sends a direction's body in one message in `mode` (`BUFFERED` = 2,
 * `BUFFERED_PARTIAL` = 3): the whole body, or its first part up to the buffer limit while the rest
 * goes on past the processor.
 */
export function sendsBodyOnce(mode: number): boolean {
  return mode === 2 || mode === 3;
}

const PROTOCOL_CONFIG_FIELD = 11;
const STREAMED_RESPONSE_FIELD = 3;

/** How Envoy sends bodies on one stream (`BodySendMode` numbers; 0 = NONE). */
export interface BodyModes {
  readonly request: number;
  readonly response: number;
}

/**
 * The body modes a stream's first ProcessingRequest announces, or undefined when Envoy sent none (older Envoy).
 * @throws KeywayError BAD_ARGUMENT when the field does not decode (protobuf-es checks only its outer length)
 */
export function protocolConfig(unknown: readonly UnknownField[] | undefined): BodyModes | undefined {
  const field = unknown?.find((f) => f.no === PROTOCOL_CONFIG_FIELD && f.wireType === WireType.LengthDelimited);
  if (!field) return undefined;
  let request = 0;
  let response = 0;
  try {
    const reader = new BinaryReader(field.data);
    // The unknown field's data is the length-delimited payload with its length prefix.
    const end = reader.uint32() + reader.pos;
    while (reader.pos < end) {
      const [no, wireType] = reader.tag();
      if (no === 1 && wireType === WireType.Varint) request = reader.int32();
      else if (no === 2 && wireType === WireType.Varint) response = reader.int32();
      else reader.skip(wireType, no);
    }
  } catch (err) {
    throw new KeywayError('BAD_ARGUMENT', `not a valid ProtocolConfiguration (${err instanceof Error ? err.message : String(err)})`, { field: 'ProcessingRequest.protocol_config' }, { cause: err });
  }
  return { request, response };
}

/** The unknown field that makes a BodyMutation a `streamed_response` carrying `body` back unchanged. */
export function streamedResponse(body: Uint8Array, endOfStream: boolean): UnknownField {
  const inner = new BinaryWriter();
  if (body.length > 0) inner.tag(1, WireType.LengthDelimited).bytes(body);
  if (endOfStream) inner.tag(2, WireType.Varint).bool(true);
  const data = new BinaryWriter().bytes(inner.finish()).finish();
  return { no: STREAMED_RESPONSE_FIELD, wireType: WireType.LengthDelimited, data };
}
