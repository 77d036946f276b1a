// Differential fuzz of frameDeltaResponse (wire.ts), which writes each delta response's bytes by
// hand in two passes (sizes, then bytes): over seeded random inputs its frame must be byte for byte
// what protobuf-es writes, both the former per-resource BinaryWriter encoder and
// toBinary(DeltaDiscoveryResponseSchema, ...) (which leaves out empty strings, where keyway writes
// them: there the decoded messages must be equal). Replay or widen a run with
// KEYWAY_FUZZ_SEED / KEYWAY_FUZZ_ITERATIONS (test/support/seeded-random.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { DeltaDiscoveryResponseSchema, type DeltaDiscoveryResponse } from '../../../src/xds/proto.js';
import { frameDeltaResponse, GRPC_FRAME_HEADER, grpcFrame, type DeltaHeader } from '../../../src/xds/server/wire.js';
import type { EncodedResource } from '../../../src/xds/cache/index.js';
import { fuzzBudget, Rng } from '../../support/seeded-random.js';

/** The former encoder: a Resource built with BinaryWriter per resource, then the response. */
function former(header: DeltaHeader, resources: readonly EncodedResource[], removed: readonly string[]): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(header.systemVersionInfo);
  for (const r of resources) {
    const inner = new BinaryWriter();
    inner.tag(1, WireType.LengthDelimited).string(r.version);
    inner.tag(2, WireType.LengthDelimited).bytes(r.bytes);
    inner.tag(3, WireType.LengthDelimited).string(r.name);
    w.tag(2, WireType.LengthDelimited).bytes(inner.finish());
  }
  w.tag(4, WireType.LengthDelimited).string(header.typeUrl);
  w.tag(5, WireType.LengthDelimited).string(header.nonce);
  for (const name of removed) w.tag(6, WireType.LengthDelimited).string(name);
  if (header.controlPlane) w.tag(7, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(header.controlPlane).join();
  return w.finish();
}

/** A string as it reads back from UTF-8: a lone surrogate becomes U+FFFD (both encoders write that). */
const wellFormed = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/** The same response as a protobuf-es message (its strings as they decode). */
function message(header: DeltaHeader, resources: readonly EncodedResource[], removed: readonly string[]): DeltaDiscoveryResponse {
  return create(DeltaDiscoveryResponseSchema, {
    systemVersionInfo: wellFormed(header.systemVersionInfo),
    typeUrl: wellFormed(header.typeUrl),
    nonce: header.nonce,
    removedResources: removed.map(wellFormed),
    resources: resources.map((r) => ({ name: wellFormed(r.name), version: wellFormed(r.version), resource: fromBinary(AnySchema, r.bytes) })),
    ...(header.controlPlane ? { controlPlane: { identifier: wellFormed(header.controlPlane) } } : {}),
  });
}

// Pieces of strings: ASCII, 2-, 3- and 4-byte UTF-8, a lone surrogate (written as U+FFFD by both).
const PIECES = ['a', 'Z', '0', '/', '-', 'é', 'ü', '日', '本', '😀', '\uD800', '\uDC00', ' ', '\u0000', '\u007f', '\u0080', '\u07ff', '\u0800', '\uffff'];

function randomString(rng: Rng, max: number): string {
  const n = rng.chance(0.1) ? 0 : rng.int(max + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += rng.pick(PIECES);
  return s;
}

/** A string whose UTF-8 length is exactly `n`, so the length prefixes around it hit a boundary. */
function stringOfBytes(n: number): string {
  return 'x'.repeat(n);
}

function resource(name: string, version: string, valueBytes: Uint8Array, typeUrl = 'type.googleapis.com/keyway.v1.ShardAssignment'): EncodedResource {
  const bytes = toBinary(AnySchema, create(AnySchema, { typeUrl, value: valueBytes }));
  return { kind: 'assignment', name, version, typeUrl, bytes, references: [] } as unknown as EncodedResource;
}

/** Length-prefix boundaries of protobuf varints: 1 to 2, 2 to 3 and 3 to 4 bytes. */
const BOUNDARIES = [0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000];

function randomCase(rng: Rng): { header: DeltaHeader; resources: EncodedResource[]; removed: string[] } {
  const header: DeltaHeader = {
    systemVersionInfo: rng.chance(0.15) ? '' : randomString(rng, 20),
    typeUrl: rng.chance(0.05) ? '' : rng.pick(['type.googleapis.com/envoy.config.cluster.v3.Cluster', 'type.googleapis.com/keyway.v1.ShardAssignment', randomString(rng, 60)]),
    nonce: rng.chance(0.05) ? '' : rng.int(1e9).toString(36),
    ...(rng.chance(0.5) ? { controlPlane: rng.chance(0.2) ? '' : randomString(rng, 30) } : {}),
  };
  const resources: EncodedResource[] = [];
  const count = rng.chance(0.2) ? 0 : rng.int(12);
  for (let i = 0; i < count; i++) {
    let size = rng.int(300);
    // Now and then a value whose Any or Resource length sits at a varint boundary (±3 bytes).
    if (rng.chance(0.03)) size = Math.max(0, rng.pick(BOUNDARIES.slice(0, 4)) - 40 + rng.int(7));
    const name = rng.chance(0.05) ? stringOfBytes(rng.pick([127, 128, 16_383, 16_384])) : randomString(rng, 40);
    resources.push(resource(name, rng.chance(0.1) ? '' : randomString(rng, 16), rng.bytes(size)));
  }
  const removed: string[] = [];
  const removedCount = rng.chance(0.5) ? 0 : rng.int(8);
  for (let i = 0; i < removedCount; i++) removed.push(randomString(rng, 50));
  return { header, resources, removed };
}

function hasEmptyString(header: DeltaHeader, resources: readonly EncodedResource[], removed: readonly string[]): boolean {
  return (
    header.systemVersionInfo === '' ||
    header.typeUrl === '' ||
    header.nonce === '' ||
    resources.some((r) => r.name === '' || r.version === '') ||
    removed.includes('')
  );
}

/** Cases also compared byte for byte with toBinary (none of their strings empty). */
let comparedWithToBinary = 0;

function check(label: string, header: DeltaHeader, resources: readonly EncodedResource[], removed: readonly string[]): void {
  const framed = frameDeltaResponse(header, resources, removed);
  const reference = former(header, resources, removed);
  assert.ok(framed.equals(grpcFrame(reference)), `${label}: the frame is the former encoder's bytes`);
  const expected = message(header, resources, removed);
  const body = framed.subarray(GRPC_FRAME_HEADER);
  assert.ok(equals(DeltaDiscoveryResponseSchema, fromBinary(DeltaDiscoveryResponseSchema, body), expected), `${label}: it decodes to the response`);
  // toBinary writes fields in number order (1, 2, 4, 5, 6, 7) as keyway does, but leaves out empty strings.
  if (!hasEmptyString(header, resources, removed)) {
    assert.ok(Buffer.from(toBinary(DeltaDiscoveryResponseSchema, expected)).equals(body), `${label}: toBinary's bytes`);
    comparedWithToBinary++;
  }
}

test('delta responses framed by hand are protobuf-es\'s bytes over seeded random inputs', () => {
  const { iterations, seed } = fuzzBudget(3000);
  const rng = new Rng(seed);
  for (let i = 0; i < iterations; i++) {
    const c = randomCase(rng);
    check(`seed ${seed} case ${i}`, c.header, c.resources, c.removed);
  }
  assert.ok(comparedWithToBinary > iterations / 10, `${comparedWithToBinary} of ${iterations} cases compared with toBinary byte for byte`);
});

test('delta responses past gRPC\'s 4 MiB: 4-byte length prefixes, one big resource or many, and at each 3-to-4-byte boundary', () => {
  const rng = new Rng(7);
  const header: DeltaHeader = { systemVersionInfo: 'f00dfeedf00dfeed', typeUrl: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', nonce: '1z', controlPlane: 'keyway-0' };
  // One resource of 5 MiB: its Any, its Resource and the response all take 4-byte length prefixes.
  check('one 5 MiB resource', header, [resource('huge', 'v1', rng.bytes(5 << 20))], ['gone']);
  // 600 resources of 8 KiB: a 4.7 MiB response of 2-byte prefixed parts.
  check('600 resources of 8 KiB', header, Array.from({ length: 600 }, (_, i) => resource(`r${i}`, `v${i}`, rng.bytes(8192))), []);
  // The Any value, then the Any, then the Resource around the 2 MiB boundary (0x1fffff to 0x200000).
  for (let d = -70; d <= 4; d++) {
    check(`a resource of 2 MiB ${d >= 0 ? '+' : ''}${d}`, { systemVersionInfo: 'v', typeUrl: 't', nonce: '1' }, [resource('n', 'v', new Uint8Array(0x200000 + d))], []);
  }
});
