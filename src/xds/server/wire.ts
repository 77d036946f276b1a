/**
 * Discovery responses written straight from pre-encoded resources (envoy.service.discovery.v3
 * DiscoveryResponse and DeltaDiscoveryResponse). Each resource's Any bytes are encoded once by the
 * cache; a response only frames them, so every stream sends the same bytes without re-encoding
 * the resource messages. Field numbers are those of discovery.proto.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { KeywayError } from '../../core/errors.js';
import type { EncodedResource } from '../cache/index.js';
import { OwnedMemo } from './owned-memo.js';
import { DEFAULT_XDS_STREAM_LIMITS } from './stream-limits.js';

/** Header fields of a state-of-the-world response. */
export interface SotwHeader {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  /** ControlPlane.identifier: which keyway replica answered. */
  readonly controlPlane?: string;
}

/** Encodes a DiscoveryResponse carrying `resources` (field 2, repeated Any). */
export function encodeSotwResponse(header: SotwHeader, resources: readonly EncodedResource[]): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(header.versionInfo);
  for (const r of resources) w.tag(2, WireType.LengthDelimited).bytes(r.bytes);
  w.tag(4, WireType.LengthDelimited).string(header.typeUrl);
  w.tag(5, WireType.LengthDelimited).string(header.nonce);
  if (header.controlPlane) w.tag(6, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(header.controlPlane).join();
  return w.finish();
}

/**
 * One response ready for every stream that should get it: the gRPC message frame (flag byte,
 * length, DiscoveryResponse) built once, with the nonce it carries. Streams holding the same
 * subscription of the same kind snapshot get this very object: no per-stream encoding nor copy
 * (grpc-framing.ts lets grpc-js write the frame as it is).
 */
export class SharedResponse {
  constructor(
    /** The gRPC frame: 0, the body's length (4 bytes, big-endian), the body. */
    readonly framed: Buffer,
    readonly nonce: string,
  ) {}

  /** The encoded DiscoveryResponse (a view into `framed`, not a copy). */
  get body(): Uint8Array {
    return this.framed.subarray(GRPC_FRAME_HEADER);
  }
}

/** Bytes before a gRPC message: a compressed flag and a 4-byte length. */
export const GRPC_FRAME_HEADER = 5;

let nonceSequence = 0;

/**
 * A fresh nonce, unique in this process (xDS protocol: a nonce names one response on a stream;
 * a stream only compares a request's nonce with its latest one). One sequence for every stream, so
 * a response shared by many streams carries one nonce that is new on each of them.
 */
export function newNonce(): string {
  return (++nonceSequence).toString(36);
}

// Per kind snapshot (the owner) and selection key: the response every stream of that selection
// gets, for callers that bring no memo of their own (the server brings one, bounded by its limit).
const defaultResponses = new OwnedMemo<SharedResponse>(DEFAULT_XDS_STREAM_LIMITS.maxSharedBytes);

/**
 * Was nonce `a` issued after nonce `b`? Both come from newNonce's sequence in base 36 (digits and
 * lower-case letters, in ASCII order): a longer one is later, one of the same length compares as text.
 */
export function issuedAfter(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}

/**
 * The shared response for `owner` (the kind snapshot the resources come from) and `key` (the
 * selection: names and versions), built on first use with a nonce from the shared sequence and
 * kept in `memo` (bounded: a response dropped from it is built again with a new nonce). It is
 * shared only with a stream whose latest nonce of the type (`latestNonce`) is older than its own:
 * a stream's nonces then only grow, so it never gets one it was sent before. A stream that was
 * sent that response already (the same set again, e.g. EDS after CDS to an Envoy, or a
 * subscription going back to a set it held) gets a new response with a new nonce, which then
 * becomes the shared one. A nonce seen twice on a stream would let a request the proxy sent
 * before it read the second copy (delta applies the subscription of such requests) count as
 * the answer to that copy.
 */
export function sharedResponse(
  owner: object,
  key: string,
  latestNonce: string | undefined,
  build: (nonce: string) => Uint8Array,
  memo: OwnedMemo<SharedResponse> = defaultResponses,
): SharedResponse {
  return sharedFrame(owner, key, latestNonce, (nonce) => grpcFrame(build(nonce)), memo);
}

/**
 * sharedResponse (same memo, same nonce rule of the xDS protocol) for a builder that writes the
 * gRPC frame itself (frameDeltaResponse): no copy of the body into a frame.
 */
export function sharedFrame(
  owner: object,
  key: string,
  latestNonce: string | undefined,
  frame: (nonce: string) => Buffer,
  memo: OwnedMemo<SharedResponse> = defaultResponses,
): SharedResponse {
  let r = memo.get(owner, key);
  if (!r || (latestNonce !== undefined && !issuedAfter(r.nonce, latestNonce))) {
    const nonce = newNonce();
    r = new SharedResponse(frame(nonce), nonce);
    memo.set(owner, key, r, r.framed.byteLength + key.length);
  }
  return r;
}

/** A gRPC length-prefixed message (uncompressed). */
export function grpcFrame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(GRPC_FRAME_HEADER + body.byteLength);
  out[0] = 0;
  out.writeUInt32BE(body.byteLength, 1);
  out.set(body, GRPC_FRAME_HEADER);
  return out;
}

/** Header fields of a delta response. */
export interface DeltaHeader {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly controlPlane?: string;
}

/**
 * Encodes a DeltaDiscoveryResponse: `resources` (field 2, repeated Resource) and `removed` names (field 6).
 * The body of frameDeltaResponse's frame (a view of it, not a copy).
 */
export function encodeDeltaResponse(
  header: DeltaHeader,
  resources: readonly EncodedResource[],
  removed: readonly string[],
): Uint8Array {
  return frameDeltaResponse(header, resources, removed).subarray(GRPC_FRAME_HEADER);
}

/**
 * A DeltaDiscoveryResponse (envoy.service.discovery.v3, delta xDS) as a gRPC frame, written in one
 * buffer: each Resource message (version 1, resource 2: the encoding's Any bytes, name 3) is
 * framed around the encoding's bytes as the response is written. Nothing is kept per resource:
 * a Resource wrapper kept per encoding was one more copy of every resource served over delta
 * (some 300 bytes an agent's assignment, where the encoding itself is some 800), and each was
 * sent once, since every agent's class is its own. The fields go in the order protobuf-es's
 * BinaryWriter wrote them before (1, 2, 4, 5, 6, 7), so the bytes are the same.
 */
export function frameDeltaResponse(header: DeltaHeader, resources: readonly EncodedResource[], removed: readonly string[]): Buffer {
  // Pass 1: sizes. Strings' UTF-8 lengths are kept in the order they are written.
  const lengths: number[] = [];
  const str = (s: string): number => {
    const n = Buffer.byteLength(s, 'utf8');
    lengths.push(n);
    return 1 + varintSize(n) + n;
  };
  let size = str(header.systemVersionInfo);
  const resourceSizes = new Array<number>(resources.length);
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i]!;
    const inner = str(r.version) + 1 + varintSize(r.bytes.byteLength) + r.bytes.byteLength + str(r.name);
    resourceSizes[i] = inner;
    size += 1 + varintSize(inner) + inner;
  }
  size += str(header.typeUrl) + str(header.nonce);
  for (const name of removed) size += str(name);
  let controlPlane = 0;
  if (header.controlPlane) {
    controlPlane = str(header.controlPlane);
    size += 1 + varintSize(controlPlane) + controlPlane;
  }
  // Pass 2: the bytes.
  const out = Buffer.allocUnsafe(GRPC_FRAME_HEADER + size);
  out[0] = 0;
  out.writeUInt32BE(size, 1);
  let at = GRPC_FRAME_HEADER;
  let next = 0;
  const varint = (n: number): void => {
    while (n > 0x7f) {
      out[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[at++] = n;
  };
  const writeStr = (tag: number, s: string): void => {
    const n = lengths[next++]!;
    out[at++] = tag;
    varint(n);
    if (n > 0) at += out.write(s, at, n, 'utf8');
  };
  writeStr(TAG_1, header.systemVersionInfo);
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i]!;
    out[at++] = TAG_2;
    varint(resourceSizes[i]!);
    writeStr(TAG_1, r.version);
    out[at++] = TAG_2;
    varint(r.bytes.byteLength);
    out.set(r.bytes, at);
    at += r.bytes.byteLength;
    writeStr(TAG_3, r.name);
  }
  writeStr(TAG_4, header.typeUrl);
  writeStr(TAG_5, header.nonce);
  for (const name of removed) writeStr(TAG_6, name);
  if (header.controlPlane) {
    out[at++] = TAG_7;
    varint(controlPlane);
    writeStr(TAG_1, header.controlPlane);
  }
  // The two passes must agree; a mismatch is a bug here, never a client's doing.
  if (at !== out.byteLength) throw new KeywayError('INTERNAL', `delta response framing wrote ${at} of ${out.byteLength} bytes`);
  return out;
}

// Tags of length-delimited fields 1 to 7: (field << 3) | 2.
const TAG_1 = 0x0a;
const TAG_2 = 0x12;
const TAG_3 = 0x1a;
const TAG_4 = 0x22;
const TAG_5 = 0x2a;
const TAG_6 = 0x32;
const TAG_7 = 0x3a;

/** Bytes of `n` (an unsigned 32-bit length) as a protobuf varint. */
function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}
