/**
 * The bytes an Envoy-like ADS client exchanges (envoy.service.discovery.v3, gRPC over HTTP/2):
 * length-prefixed gRPC messages, requests encoded by hand and responses read only as far as their
 * header fields (version, type, nonce), so the load client spends its CPU on streams, not decoding.
 * Field numbers are those of discovery.proto and base.proto (Node).
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export const ADS_SOTW = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const ADS_DELTA = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

/** Envoy's Node as far as a control plane reads it: id, cluster, user agent. */
function node(w: BinaryWriter, field: number, id: string): void {
  w.tag(field, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).string(id);
  w.tag(2, WireType.LengthDelimited).string('bench');
  w.tag(6, WireType.LengthDelimited).string('envoy');
  w.join();
}

/** A DiscoveryRequest (SotW): version_info 1, node 2, resource_names 3, type_url 4, response_nonce 5. */
export function sotwRequest(nodeId: string | undefined, typeUrl: string, names: readonly string[], version: string, nonce: string): Uint8Array {
  const w = new BinaryWriter();
  if (version) w.tag(1, WireType.LengthDelimited).string(version);
  if (nodeId) node(w, 2, nodeId);
  for (const n of names) w.tag(3, WireType.LengthDelimited).string(n);
  w.tag(4, WireType.LengthDelimited).string(typeUrl);
  if (nonce) w.tag(5, WireType.LengthDelimited).string(nonce);
  return w.finish();
}

/** A DeltaDiscoveryRequest: node 1, type_url 2, resource_names_subscribe 3, response_nonce 6. */
export function deltaRequest(nodeId: string | undefined, typeUrl: string, subscribe: readonly string[], nonce: string): Uint8Array {
  const w = new BinaryWriter();
  if (nodeId) node(w, 1, nodeId);
  w.tag(2, WireType.LengthDelimited).string(typeUrl);
  for (const n of subscribe) w.tag(3, WireType.LengthDelimited).string(n);
  if (nonce) w.tag(6, WireType.LengthDelimited).string(nonce);
  return w.finish();
}

/** The header of a response: version 1 (system_version_info in delta), type_url 4, nonce 5; resources (2) counted, not decoded. */
export interface ResponseHeader {
  version: string;
  typeUrl: string;
  nonce: string;
  resources: number;
}

export function readResponse(bytes: Uint8Array): ResponseHeader {
  const r = new BinaryReader(bytes);
  const h: ResponseHeader = { version: '', typeUrl: '', nonce: '', resources: 0 };
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === WireType.LengthDelimited) h.version = r.string();
    else if (field === 4 && type === WireType.LengthDelimited) h.typeUrl = r.string();
    else if (field === 5 && type === WireType.LengthDelimited) h.nonce = r.string();
    else {
      if (field === 2) h.resources++;
      r.skip(type, field);
    }
  }
  return h;
}

/** One gRPC message: flag byte 0, 4-byte big-endian length, the bytes. */
export function frame(msg: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(5 + msg.byteLength);
  b[0] = 0;
  b.writeUInt32BE(msg.byteLength, 1);
  b.set(msg, 5);
  return b;
}

/** Splits a byte stream into gRPC messages. */
export class Deframer {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onMessage: (msg: Buffer) => void): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 5) {
      const len = this.#buf.readUInt32BE(1);
      if (this.#buf.length < 5 + len) return;
      onMessage(this.#buf.subarray(5, 5 + len));
      this.#buf = this.#buf.subarray(5 + len);
    }
  }
}
