/**
 * Messages for fuzzing the endpoint picker's port (fuzz.test.ts): random ProcessingRequests with
 * the headers, metadata and protocol_config the picker reads, hand-built hostile ones, health
 * requests, and the plan of one fuzz call (replayable from its seed and index).
 */
import { create, toBinary, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { ProcessingRequestSchema } from '../../src/xds/proto.js';
import { deepStruct, lengthDelimited, mutate, Rng, type StreamPattern } from '../xds/server/fuzz-kit.js';

export const PROCESS = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
const PATTERNS: readonly StreamPattern[] = ['half-close', 'half-close', 'close-first', 'cancel', 'no-read'];

const text = new TextEncoder();

function randomJson(rng: Rng, depth: number): JsonValue {
  switch (depth > 3 ? rng.int(4) : rng.int(6)) {
    case 0:
      return null;
    case 1:
      return rng.next() * 100;
    case 2:
      return rng.chance(0.5) ? rng.pick(['10.0.0.1:7000', '10.0.0.2', '[::1]:80', '10.0.0.1:7000,10.0.0.3:7000', ':', '[', ']:1']) : rng.string();
    case 3:
      return rng.chance(0.5);
    case 4:
      return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
    default: {
      const o: JsonObject = {};
      for (let i = rng.int(3); i > 0; i--) Object.defineProperty(o, rng.string(), { value: randomJson(rng, depth + 1), enumerable: true, writable: true, configurable: true });
      return o;
    }
  }
}

/** filter_metadata with the subset hint and served-endpoint keys, in every shape a gateway (or not) might write. */
function randomFilterMetadata(rng: Rng): Record<string, JsonObject> {
  const out: Record<string, JsonObject> = {};
  if (rng.chance(0.5)) out['envoy.lb.subset_hint'] = { 'x-gateway-destination-endpoint-subset': randomJson(rng, 2) };
  if (rng.chance(0.5)) out['envoy.lb'] = { 'x-gateway-destination-endpoint-served': randomJson(rng, 3) };
  if (rng.chance(0.2)) out[rng.string()] = { [rng.string()]: randomJson(rng, 0) };
  return out;
}

/** A protocol_config unknown field (11): valid modes, or bytes that do not decode. */
function protocolConfig(rng: Rng): Uint8Array {
  const inner = rng.chance(0.6) ? new BinaryWriter().tag(1, WireType.Varint).int32(rng.int(6)).tag(2, WireType.Varint).int32(rng.int(6)).finish() : rng.bytes(rng.int(10));
  return lengthDelimited(11, inner);
}

export function randomRequest(rng: Rng): Uint8Array {
  const headers = Array.from({ length: rng.int(4) }, () => {
    const key = rng.pick(['x-cache-shard', 'x-cache-key', 'X-Cache-Shard', ':path', rng.string()]);
    const value = rng.pick([String(rng.int(20)), '01', '-1', '4294967296', rng.string()]);
    return rng.chance(0.5) ? { key, rawValue: rng.chance(0.9) ? text.encode(value) : rng.bytes(rng.int(8)) } : { key, value };
  });
  const eos = rng.chance(0.5);
  const body = { body: rng.bytes(rng.chance(0.9) ? rng.int(64) : 100_000), endOfStream: eos };
  const request = rng.pick([
    { case: 'requestHeaders', value: { headers: { headers }, endOfStream: eos } },
    { case: 'responseHeaders', value: { headers: { headers }, endOfStream: eos } },
    { case: 'requestBody', value: body },
    { case: 'responseBody', value: body },
    { case: 'requestTrailers', value: { trailers: { headers } } },
    { case: 'responseTrailers', value: { trailers: { headers } } },
    { case: undefined },
  ]);
  const msg = create(ProcessingRequestSchema, {
    request,
    metadataContext: rng.chance(0.5) ? { filterMetadata: randomFilterMetadata(rng) } : undefined,
    observabilityMode: rng.chance(0.1),
  } as never);
  const bytes = toBinary(ProcessingRequestSchema, msg);
  return rng.chance(0.3) ? new Uint8Array([...bytes, ...protocolConfig(rng)]) : bytes;
}

/** Hand-built: metadata_context (8) whose subset hint is nested deep, or a request of very many headers. */
export function hostileRequest(rng: Rng): Uint8Array {
  if (rng.chance(0.5)) {
    const depth = rng.pick([1000, 10_000, 100_000]);
    // Metadata.filter_metadata (1): map entry {key: "envoy.lb.subset_hint", value: Struct}.
    const entry = new Uint8Array([...new BinaryWriter().tag(1, WireType.LengthDelimited).string('envoy.lb.subset_hint').finish(), ...lengthDelimited(2, deepStruct(depth))]);
    return new Uint8Array([...lengthDelimited(2, new Uint8Array()), ...lengthDelimited(8, lengthDelimited(1, entry))]);
  }
  const w = new BinaryWriter().tag(2, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).fork();
  for (let i = 0, n = rng.pick([10_000, 200_000]); i < n; i++) w.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string('x-cache-shard').tag(3, WireType.LengthDelimited).bytes(text.encode('1')).join();
  return w.join().join().finish();
}

/** HealthCheckRequest{service}: a known name, an odd one, or mutated bytes. */
export function healthRequest(rng: Rng): Uint8Array {
  const service = rng.pick(['', 'liveness', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor', rng.string()]);
  const bytes = service === '' ? new Uint8Array() : new BinaryWriter().tag(1, WireType.LengthDelimited).string(service).finish();
  return rng.chance(0.4) ? mutate(rng, bytes, [bytes]) : bytes;
}

/** One fuzz call: a health check or watch, or a Process stream of messages driven by a pattern. */
export type Plan =
  | { readonly what: 'Health/Check' | 'Health/Watch'; readonly message: Uint8Array }
  | { readonly what: 'Process'; readonly messages: readonly Uint8Array[]; readonly pattern: StreamPattern };

/** The plan of call `i` of a run seeded `seed` (`seeds`: valid messages to mutate). */
export function plan(seed: number, i: number, seeds: readonly Uint8Array[]): Plan {
  // Each call draws from its own generator, so one can be replayed alone.
  const r = new Rng(seed * 1_000_003 + i);
  const roll = r.int(10);
  if (roll === 0) return { what: 'Health/Check', message: healthRequest(r) };
  if (roll === 1) return { what: 'Health/Watch', message: healthRequest(r) };
  const message = (): Uint8Array => {
    const kind = r.int(100);
    if (kind < 3) return hostileRequest(r);
    if (kind < 60) return randomRequest(r);
    let m = r.pick(seeds);
    for (let n = kind < 85 ? 1 : 1 + r.int(4); n > 0; n--) m = mutate(r, m, seeds);
    return m;
  };
  const wellFormed = r.chance(0.5);
  const messages = Array.from({ length: r.chance(0.2) ? 10 + r.int(40) : 1 + r.int(4) }, () => (wellFormed ? randomRequest(r) : message()));
  return { what: 'Process', messages, pattern: r.pick(PATTERNS) };
}
