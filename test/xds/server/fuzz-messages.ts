/**
 * Messages for fuzzing keyway's xDS port (fuzz.test.ts): valid ones of every service and flavor,
 * random well-formed ones with hostile values, and hand-built ones protobuf-es would not write
 * (deep Struct metadata, huge repeated fields).
 */
import { create, toBinary, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  LoadReportSchema,
  WarmReportSchema,
} from '../../../src/xds/proto.js';
import { TYPE_URL, type ResourceKind } from '../../../src/xds/resources.js';
import { deepStruct, lengthDelimited, type Rng } from './fuzz-kit.js';

export const KINDS: readonly ResourceKind[] = ['cluster', 'endpoint', 'listener', 'route', 'assignment'];
const PER_TYPE: Readonly<Record<string, string>> = { cluster: 'Cluster', endpoint: 'Endpoint', listener: 'Listener', route: 'Route' };

/** The gRPC methods of the xDS port, by how they are called. */
export const XDS_METHODS: readonly { readonly path: string; readonly kind: 'sotw' | 'delta' | 'unary-warm' | 'unary-load' | 'unary-fetch' }[] = [
  { path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', kind: 'sotw' },
  { path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', kind: 'delta' },
  ...Object.entries(PER_TYPE).flatMap(([kind, Name]) => [
    { path: `/envoy.service.${kind}.v3.${Name}DiscoveryService/Stream${Name}s`, kind: 'sotw' as const },
    { path: `/envoy.service.${kind}.v3.${Name}DiscoveryService/Delta${Name}s`, kind: 'delta' as const },
    { path: `/envoy.service.${kind}.v3.${Name}DiscoveryService/Fetch${Name}s`, kind: 'unary-fetch' as const },
  ]),
  { path: '/keyway.v1.ShardOwnership/ReportWarm', kind: 'unary-warm' },
  { path: '/keyway.v1.ShardOwnership/ReportLoad', kind: 'unary-load' },
];

/** Node ids of the fuzz topology's endpoints (agents and load reports name them). */
export const NODE_IDS = ['gpu-0', 'gpu-1', 'gpu-2', 'gpu-3'];

const USER_AGENTS = ['envoy', 'gRPC Go', 'gRPC Node', 'keyway-agent', '', 'gRPC'];

function randomJson(rng: Rng, depth: number): JsonValue {
  switch (depth > 4 ? rng.int(4) : rng.int(6)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5) ? rng.next() * 1e6 : rng.pick([0, -1, 1e308, Number.MAX_SAFE_INTEGER]);
    case 2:
      return rng.string();
    case 3:
      return rng.chance(0.5);
    case 4:
      return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
    default:
      return randomObject(rng, depth + 1);
  }
}

function randomObject(rng: Rng, depth: number): JsonObject {
  const o: JsonObject = {};
  for (let i = rng.int(4); i > 0; i--) Object.defineProperty(o, rng.string(), { value: randomJson(rng, depth), enumerable: true, writable: true, configurable: true });
  if (rng.chance(0.2)) o['keyway.shard_picker'] = rng.pick(['v1', 'v2', 1, null]);
  return o;
}

function randomNode(rng: Rng): Record<string, unknown> | undefined {
  if (rng.chance(0.05)) return undefined;
  const id = rng.chance(0.7) ? rng.pick([...NODE_IDS, 'envoy-1', 'grpc-1']) : rng.string();
  return {
    id,
    cluster: rng.string(),
    userAgentName: rng.pick(USER_AGENTS),
    locality: rng.chance(0.5) ? { region: rng.string(), zone: rng.pick(['z0', 'z1', rng.string()]), subZone: rng.string() } : undefined,
    metadata: rng.chance(0.5) ? randomObject(rng, 0) : undefined,
    clientFeatures: rng.chance(0.3) ? [rng.string()] : [],
    userAgentVersionType: rng.chance(0.3) ? { case: 'userAgentVersion', value: rng.string() } : rng.chance(0.2) ? { case: 'userAgentBuildVersion', value: { version: { majorNumber: rng.int(5), minorNumber: rng.int(50), patch: rng.int(9) } } } : { case: undefined },
  };
}

const typeUrl = (rng: Rng): string => (rng.chance(0.85) ? TYPE_URL[rng.pick(KINDS)] : rng.string());

function names(rng: Rng): string[] {
  if (rng.chance(0.3)) return [];
  return Array.from({ length: 1 + rng.int(5) }, () => rng.pick(['*', 'keyway-cache', 'keyway-cache/owners/gpu-0,gpu-1', 'gpu-0', 'absent', rng.string()]));
}

/** A response nonce: none, a recent one of keyway's (one sequence per process, base 36: so ACKs and NACKs land), or junk. */
const nonce = (rng: Rng): string => (rng.chance(0.4) ? '' : rng.chance(0.7) ? (1 + rng.int(3000)).toString(36) : rng.string());

const nack = (rng: Rng) => (rng.chance(0.2) ? { code: rng.int(20), message: rng.chance(0.1) ? 'x'.repeat(100_000) : rng.string() } : undefined);

/** A random SotW request: well-formed protobuf, hostile values. */
export function randomSotw(rng: Rng): Uint8Array {
  return toBinary(
    DiscoveryRequestSchema,
    create(DiscoveryRequestSchema, {
      versionInfo: rng.chance(0.5) ? '' : rng.string(),
      node: randomNode(rng),
      resourceNames: names(rng),
      typeUrl: typeUrl(rng),
      responseNonce: nonce(rng),
      errorDetail: nack(rng),
    } as never),
  );
}

/** A random delta request, with odd initial_resource_versions keys. */
export function randomDelta(rng: Rng): Uint8Array {
  const initial: Record<string, string> = {};
  for (let i = rng.chance(0.3) ? rng.int(6) : 0; i > 0; i--) initial[rng.chance(0.3) ? rng.pick(['__proto__', 'constructor', 'keyway-cache', '*']) : rng.string()] = rng.string();
  return toBinary(
    DeltaDiscoveryRequestSchema,
    create(DeltaDiscoveryRequestSchema, {
      node: randomNode(rng),
      typeUrl: typeUrl(rng),
      resourceNamesSubscribe: names(rng),
      resourceNamesUnsubscribe: rng.chance(0.3) ? names(rng) : [],
      initialResourceVersions: initial,
      responseNonce: nonce(rng),
      errorDetail: nack(rng),
    } as never),
  );
}

export function randomWarm(rng: Rng): Uint8Array {
  return toBinary(
    WarmReportSchema,
    create(WarmReportSchema, {
      nodeId: rng.chance(0.7) ? rng.pick(NODE_IDS) : rng.string(),
      shards: Array.from({ length: rng.int(8) }, () => (rng.chance(0.8) ? rng.int(40) : rng.int(2 ** 32))),
    }),
  );
}

export function randomLoad(rng: Rng, windowMs: number): Uint8Array {
  const start = Math.floor(Date.now() / windowMs) * windowMs - windowMs * rng.int(3);
  const shards = Array.from({ length: rng.int(6) }, () => ({ shard: rng.chance(0.9) ? rng.int(40) : rng.int(2 ** 32), requests: BigInt(rng.int(1000)) }));
  return toBinary(
    LoadReportSchema,
    create(LoadReportSchema, {
      nodeId: rng.chance(0.8) ? rng.pick(NODE_IDS) : rng.string(),
      windowStartUnixMs: BigInt(rng.chance(0.8) ? start : rng.int(2 ** 31) - 2 ** 30),
      windowMs: rng.chance(0.8) ? windowMs : rng.pick([0, 1, 2 ** 32 - 1, rng.int(100000)]),
      totalRequests: rng.chance(0.9) ? BigInt(rng.int(100000)) : 2n ** 64n - 1n,
      shards,
    }),
  );
}

/**
 * Hand-built requests protobuf-es would not produce from a valid message: node metadata nested
 * `depth` deep, and repeated fields of `count` entries.
 */
export function hostileSotw(rng: Rng): Uint8Array {
  const w = new BinaryWriter();
  const node = new BinaryWriter().tag(1, WireType.LengthDelimited).string(rng.pick(NODE_IDS)).tag(6, WireType.LengthDelimited).string(rng.pick(USER_AGENTS)).finish();
  const choice = rng.int(3);
  if (choice === 0) {
    // Node.metadata (3): a Struct nested deep (past the stack of a recursive decoder, or just under it).
    const depth = rng.pick([100, 1000, 3000, 10_000, 100_000]);
    w.tag(2, WireType.LengthDelimited).bytes(new Uint8Array([...node, ...lengthDelimited(3, deepStruct(depth))]));
  } else w.tag(2, WireType.LengthDelimited).bytes(node);
  w.tag(4, WireType.LengthDelimited).string(TYPE_URL[rng.pick(KINDS)]);
  if (choice === 1) {
    const count = rng.pick([1000, 100_000, 300_000]);
    for (let i = 0; i < count; i++) w.tag(3, WireType.LengthDelimited).string(`n${i}`);
  }
  return w.finish();
}

/** A delta request with a huge initial_resource_versions or subscription, or deep node metadata. */
export function hostileDelta(rng: Rng): Uint8Array {
  const w = new BinaryWriter();
  const node = new BinaryWriter().tag(1, WireType.LengthDelimited).string(rng.pick(NODE_IDS)).tag(6, WireType.LengthDelimited).string(rng.pick(USER_AGENTS)).finish();
  const choice = rng.int(3);
  if (choice === 0) w.tag(1, WireType.LengthDelimited).bytes(new Uint8Array([...node, ...lengthDelimited(3, deepStruct(rng.pick([1000, 10_000, 100_000])))]));
  else w.tag(1, WireType.LengthDelimited).bytes(node);
  w.tag(2, WireType.LengthDelimited).string(TYPE_URL[rng.pick(KINDS)]);
  const count = rng.pick([1000, 100_000, 200_000]);
  for (let i = 0; i < count; i++) {
    if (choice === 1) w.tag(5, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(`r${i}`).tag(2, WireType.LengthDelimited).string('v').join();
    else if (choice === 2) w.tag(3, WireType.LengthDelimited).string(`s${i}`);
  }
  return w.finish();
}

export function hostileWarm(rng: Rng): Uint8Array {
  const w = new BinaryWriter().tag(1, WireType.LengthDelimited).string(rng.pick(NODE_IDS));
  // Packed shards: a million entries in one field.
  w.tag(2, WireType.LengthDelimited).fork();
  for (let i = 0, n = rng.pick([1000, 1_000_000]); i < n; i++) w.uint32(i % 64);
  w.join();
  return w.finish();
}

/** version (1), type_url (4) and nonce (5) of a DiscoveryResponse or DeltaDiscoveryResponse (same numbers in both). */
function responseHeader(bytes: Uint8Array): { version: string; typeUrl: string; nonce: string } {
  const out = { version: '', typeUrl: '', nonce: '' };
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (wt !== WireType.LengthDelimited) r.skip(wt, no);
      else if (no === 1) out.version = r.string();
      else if (no === 4) out.typeUrl = r.string();
      else if (no === 5) out.nonce = r.string();
      else r.skip(wt, no);
    }
  } catch {
    // Not ours to judge here: the test client checks responses elsewhere.
  }
  return out;
}

/**
 * For a conversing stream: the next request answers the response just read, by appending fields
 * (protobuf keeps the last of a singular field): its nonce, its type, and for SotW its version (an
 * ACK) or an error_detail (a NACK). Mutated requests get the same; they may not decode anyway.
 */
export function xdsReply(protocol: 'sotw' | 'delta', rng: Rng): (message: Uint8Array, response: Uint8Array | undefined) => Uint8Array {
  return (message, response) => {
    if (!response || rng.chance(0.2)) return message;
    const h = responseHeader(response);
    const w = new BinaryWriter();
    const [typeField, nonceField, errorField] = protocol === 'sotw' ? [4, 5, 6] : [2, 6, 7];
    if (rng.chance(0.7)) w.tag(typeField, WireType.LengthDelimited).string(h.typeUrl);
    w.tag(nonceField, WireType.LengthDelimited).string(h.nonce);
    if (protocol === 'sotw' && rng.chance(0.7)) w.tag(1, WireType.LengthDelimited).string(h.version);
    if (rng.chance(0.3)) w.tag(errorField, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).string(rng.chance(0.1) ? 'x'.repeat(100_000) : rng.string()).join();
    return new Uint8Array([...message, ...w.finish()]);
  };
}
