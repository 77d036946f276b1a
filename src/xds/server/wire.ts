/**
 * Discovery responses written straight from pre-encoded resources (envoy.service.discovery.v3
 * DiscoveryResponse and DeltaDiscoveryResponse). Each resource's Any bytes are encoded once by the
 * cache; a response only frames them, so every stream sends the same bytes without re-encoding
 * the resource messages. Field numbers are those of discovery.proto.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
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
  let r = memo.get(owner, key);
  if (!r || (latestNonce !== undefined && !issuedAfter(r.nonce, latestNonce))) {
    const nonce = newNonce();
    r = new SharedResponse(grpcFrame(build(nonce)), nonce);
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

// The Resource wrapper (name, version, Any) of each resource, built once per EncodedResource.
const deltaWrappers = new WeakMap<EncodedResource, Uint8Array>();

function deltaWrapper(r: EncodedResource): Uint8Array {
  let bytes = deltaWrappers.get(r);
  if (!bytes) {
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).string(r.version);
    w.tag(2, WireType.LengthDelimited).bytes(r.bytes);
    w.tag(3, WireType.LengthDelimited).string(r.name);
    bytes = w.finish();
    deltaWrappers.set(r, bytes);
  }
  return bytes;
}

/** Encodes a DeltaDiscoveryResponse: `resources` (field 2, repeated Resource) and `removed` names (field 6). */
export function encodeDeltaResponse(
  header: DeltaHeader,
  resources: readonly EncodedResource[],
  removed: readonly string[],
): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(header.systemVersionInfo);
  for (const r of resources) w.tag(2, WireType.LengthDelimited).bytes(deltaWrapper(r));
  w.tag(4, WireType.LengthDelimited).string(header.typeUrl);
  w.tag(5, WireType.LengthDelimited).string(header.nonce);
  for (const name of removed) w.tag(6, WireType.LengthDelimited).string(name);
  if (header.controlPlane) w.tag(7, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(header.controlPlane).join();
  return w.finish();
}
