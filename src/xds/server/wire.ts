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
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(header.versionInfo);
  for (const r of resources) w.tag(2, WireType.LengthDelimited).bytes(r.bytes);
  w.tag(4, WireType.LengthDelimited).string(header.typeUrl);
  w.tag(5, WireType.LengthDelimited).string(header.nonce);
  if (header.controlPlane) w.tag(6, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(header.controlPlane).join();
  return w.finish();
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
