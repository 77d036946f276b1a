/**
 * Discovery responses written straight from pre-encoded resources (envoy.service.discovery.v3
 * DiscoveryResponse and DeltaDiscoveryResponse). Each resource's Any bytes are encoded once by the
 * cache; a response only frames them, so every stream sends the same bytes without re-encoding
 * the resource messages. Field numbers are those of discovery.proto.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { EncodedResource } from '../cache/index.js';

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
  return concat(sotwBody(header.versionInfo, header.typeUrl, resources), sotwTail(header));
}

// Bodies (version, resources, type) of SotW responses, per kind snapshot and selection: streams that
// hold the same subscription get the same body and differ only in the nonce appended to it.
const sotwBodies = new WeakMap<object, Map<string, Uint8Array>>();

/**
 * Like encodeSotwResponse, but reuses the body built for another stream with the same `owner`
 * (the kind snapshot the resources come from) and `selection` (a key of the names and versions).
 */
export function encodeSotwResponseShared(
  owner: object,
  selection: string,
  header: SotwHeader,
  resources: readonly EncodedResource[],
): Uint8Array {
  let bodies = sotwBodies.get(owner);
  if (!bodies) {
    bodies = new Map();
    sotwBodies.set(owner, bodies);
  }
  const key = `${header.typeUrl}\0${header.versionInfo}\0${selection}`;
  let body = bodies.get(key);
  if (!body) {
    body = sotwBody(header.versionInfo, header.typeUrl, resources);
    bodies.set(key, body);
  }
  return concat(body, sotwTail(header));
}

function sotwBody(versionInfo: string, typeUrl: string, resources: readonly EncodedResource[]): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(versionInfo);
  for (const r of resources) w.tag(2, WireType.LengthDelimited).bytes(r.bytes);
  w.tag(4, WireType.LengthDelimited).string(typeUrl);
  return w.finish();
}

function sotwTail(header: SotwHeader): Uint8Array {
  const w = new BinaryWriter();
  w.tag(5, WireType.LengthDelimited).string(header.nonce);
  if (header.controlPlane) w.tag(6, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(header.controlPlane).join();
  return w.finish();
}

/** Protobuf fields may come in any order and a message may be split anywhere between fields. */
function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
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
