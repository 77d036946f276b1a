// Delta responses are framed straight from each encoding's bytes (docs/xds-protocol.md "Snapshots
// and versions"), with no Resource wrapper kept per resource. What goes on the wire must stay what
// the former encoder wrote, byte for byte: `formerDeltaResponse` below is that encoder as it was
// (a Resource message built with protobuf-es's BinaryWriter per resource, then the response), and
// the digests pin its output on a fixed input, so the reference cannot drift either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { create, fromBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { DeltaDiscoveryResponseSchema, ShardAssignmentSchema } from '../../../src/xds/proto.js';
import { encodeDeltaResponse, frameDeltaResponse, GRPC_FRAME_HEADER, grpcFrame, type DeltaHeader } from '../../../src/xds/server/wire.js';
import { ResourceEncoder, SnapshotCache, type EncodedResource } from '../../../src/xds/cache/index.js';
import { startXdsServer } from '../../../src/xds/server/index.js';
import { TYPE_URL } from '../../../src/xds/resources.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../../src/xds/translator/index.js';
import { heapAfterGc } from '../../support/heap.js';
import { eventually } from '../../support/eventually.js';
import { edsCluster, loadAssignment } from '../../support/xds-client/resources.js';
import { endpoint, handInput } from '../translator/fixtures.js';
import { connect, deltaRequest } from '../../../e2e/support/xds-raw.js';

/** The delta response as keyway encoded it before (wire.ts, with its per-resource wrapper), unchanged. */
function formerDeltaResponse(header: DeltaHeader, resources: readonly EncodedResource[], removed: readonly string[]): Uint8Array {
  const wrapper = (r: EncodedResource): Uint8Array => {
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).string(r.version);
    w.tag(2, WireType.LengthDelimited).bytes(r.bytes);
    w.tag(3, WireType.LengthDelimited).string(r.name);
    return w.finish();
  };
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(header.systemVersionInfo);
  for (const r of resources) w.tag(2, WireType.LengthDelimited).bytes(wrapper(r));
  w.tag(4, WireType.LengthDelimited).string(header.typeUrl);
  w.tag(5, WireType.LengthDelimited).string(header.nonce);
  for (const name of removed) w.tag(6, WireType.LengthDelimited).string(name);
  if (header.controlPlane) w.tag(7, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(header.controlPlane).join();
  return w.finish();
}

const encoder = new ResourceEncoder();
/** Agent assignments (small), clusters, and endpoint sets long enough for 2- and 3-byte length prefixes. */
const assignments = Array.from({ length: 300 }, (_, s) =>
  encoder.encode('assignment', { name: String(s), schema: ShardAssignmentSchema, message: create(ShardAssignmentSchema, { shard: s, shardCount: 16_384, role: 1 + (s % 2), phase: 1 }) }),
);
const clusters = ['a', 'b-ünïcödé', 'c/owners/gpu-1,gpu-2', 'x'.repeat(200)].map((n) => encoder.encode('cluster', edsCluster(n)));
const endpoints = [
  encoder.encode('endpoint', loadAssignment('small', [{ port: 1 }])),
  encoder.encode('endpoint', loadAssignment('big', Array.from({ length: 400 }, (_, i) => ({ port: 1000 + i })))),
  encoder.encode('endpoint', loadAssignment('huge', Array.from({ length: 9000 }, (_, i) => ({ port: 1 + i })))),
];
/** Names a client may make up for removed_resources: any character, a lone surrogate included. */
const oddRemoved = ['gone', '', 'ü', '日本語', '\uD800', 'emoji-😀', 'n'.repeat(130), 'z'.repeat(20_000)];

const cases: { label: string; header: DeltaHeader; resources: readonly EncodedResource[]; removed: readonly string[] }[] = [
  { label: 'a full agent push', header: { systemVersionInfo: 'f00dfeedf00dfeed', typeUrl: assignments[0]!.typeUrl, nonce: '1z' }, resources: assignments, removed: [] },
  { label: 'a 4-shard move, with a control plane', header: { systemVersionInfo: 'v', typeUrl: assignments[0]!.typeUrl, nonce: 'abc', controlPlane: 'keyway-0' }, resources: assignments.slice(10, 14), removed: ['17', '2'] },
  { label: 'clusters with odd names', header: { systemVersionInfo: '', typeUrl: clusters[0]!.typeUrl, nonce: '0', controlPlane: 'ré-plica' }, resources: clusters, removed: oddRemoved },
  { label: 'endpoint sets of every length prefix', header: { systemVersionInfo: 'sv', typeUrl: endpoints[0]!.typeUrl, nonce: 'zzzzzz' }, resources: endpoints, removed: [] },
  { label: 'nothing but removals', header: { systemVersionInfo: 'sv', typeUrl: endpoints[0]!.typeUrl, nonce: '5' }, resources: [], removed: oddRemoved },
  { label: 'an empty answer', header: { systemVersionInfo: '', typeUrl: '', nonce: '' }, resources: [], removed: [] },
];

// SHA-256 of formerDeltaResponse's output on each case, recorded with the encoder as it was.
const FORMER_DIGESTS: Record<string, string> = {
  'a full agent push': '577fab9d462d4b387c8a1766a3fc52fb5e3624a292c81650cc8beb1bf7af058f',
  'a 4-shard move, with a control plane': 'a70d6b10eae80e7ae9c15d13436d12685c56db7f723e3ff09512e22c3b8f7512',
  'clusters with odd names': '2ee05c414125d55779f24f409efebef915e9de91cfdde79529a6840e3107d411',
  'endpoint sets of every length prefix': 'ec3d43901fcf769c0a6071c91650965906e64591069f176d07581ff31218c5e1',
  'nothing but removals': '22b720830493ba5d33c8316138efb8c02a957648cff63e763a190bf9a810ba69',
  'an empty answer': 'ac7e6f1f39796ed34b9ad2808c9c409040a787c3ee60c600eaf1fbff8bb81ef2',
};

test('delta responses are the bytes the former encoder wrote, framed or not, for every case', () => {
  for (const c of cases) {
    const former = formerDeltaResponse(c.header, c.resources, c.removed);
    const digest = createHash('sha256').update(former).digest('hex');
    assert.equal(digest, FORMER_DIGESTS[c.label], `${c.label}: the reference still writes what it wrote`);
    assert.deepEqual(Buffer.from(encodeDeltaResponse(c.header, c.resources, c.removed)), Buffer.from(former), `${c.label}: the body`);
    assert.deepEqual(frameDeltaResponse(c.header, c.resources, c.removed), grpcFrame(former), `${c.label}: the gRPC frame`);
    const decoded = fromBinary(DeltaDiscoveryResponseSchema, frameDeltaResponse(c.header, c.resources, c.removed).subarray(GRPC_FRAME_HEADER));
    assert.deepEqual(decoded.resources.map((r) => [r.name, r.version]), c.resources.map((r) => [r.name, r.version]));
  }
});

test('framing delta responses keeps nothing per resource: no wrapper per encoding outlives the response', async () => {
  const count = 20_000;
  const many = Array.from({ length: count }, (_, s) =>
    encoder.encode('assignment', { name: String(s), schema: ShardAssignmentSchema, message: create(ShardAssignmentSchema, { shard: s, shardCount: 65_536, role: 1, phase: 1 }) }),
  );
  const header: DeltaHeader = { systemVersionInfo: 'v', typeUrl: many[0]!.typeUrl, nonce: '1' };
  const before = await heapAfterGc();
  let bytes = 0;
  for (let at = 0; at < count; at += 200) bytes += encodeDeltaResponse(header, many.slice(at, at + 200), []).byteLength;
  const perResource = ((await heapAfterGc()) - before) / count;
  assert.ok(bytes > count * 60, 'every resource was framed');
  // A Resource wrapper kept per encoding (its version, Any bytes and name, in a buffer of its own)
  // was some 270 bytes each.
  assert.ok(perResource < 40, `${perResource.toFixed(0)} bytes retained per resource framed`);
  assert.equal(many.length, count);
});

/** The gRPC frames a raw delta stream of agent `id` receives (each whole, flag and length included). */
function agentFrames(port: number, id: string): { frames: Buffer[]; close(): void } {
  const session = connect(port);
  const stream = session.request({ ':method': 'POST', ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', 'content-type': 'application/grpc', te: 'trailers' });
  const frames: Buffer[] = [];
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.byteLength >= GRPC_FRAME_HEADER && pending.byteLength >= GRPC_FRAME_HEADER + pending.readUInt32BE(1)) {
      const end = GRPC_FRAME_HEADER + pending.readUInt32BE(1);
      frames.push(pending.subarray(0, end));
      pending = pending.subarray(end);
    }
  });
  stream.write(deltaRequest({ id, userAgentName: 'keyway-agent' }, 'assignment', []));
  return { frames, close: () => session.destroy() };
}

test("an agent's stream receives the former encoder's bytes: its whole set, then a move's changes and removals", async (t) => {
  const nodes = [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2'), endpoint('c', '10.0.0.3')];
  let input = handInput(nodes, Array.from({ length: 64 }, (_, s) => [['a', 'b', 'c'][s % 3]!, ['b', 'c', 'a'][s % 3]!]));
  const cache = new SnapshotCache({ build: (c) => translate(input, c), checkConsistency, servedClass: effectiveProxyClass });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', controlPlaneId: 'keyway-0' });
  const a = agentFrames(server.port, 'a');
  t.after(async () => {
    a.close();
    await server.close();
  });
  const kindOf = () => cache.snapshot({ flavor: 'agent', zone: '', subzone: '', node: 'a' })!.kinds.assignment;
  const expectFrame = (frame: Buffer, ks: ReturnType<typeof kindOf>, resources: readonly EncodedResource[], removed: readonly string[]): void => {
    const nonce = fromBinary(DeltaDiscoveryResponseSchema, frame.subarray(GRPC_FRAME_HEADER)).nonce;
    const header = { systemVersionInfo: ks.version, typeUrl: TYPE_URL.assignment, nonce, controlPlane: 'keyway-0' };
    assert.deepEqual(frame, grpcFrame(formerDeltaResponse(header, resources, removed)));
  };
  await eventually('the first response', () => a.frames.length === 1);
  const first = kindOf();
  expectFrame(a.frames[0]!, first, [...first.resources.values()], []);

  // Shard 0 leaves a, shard 1 comes to a as its primary, shard 3 swaps a's role: changes and a removal.
  const owners = input.shardMap.owners.map((o) => [...o]);
  owners[0] = ['b', 'c'];
  owners[1] = ['a', 'c'];
  owners[3] = ['b', 'a'];
  input = handInput(nodes, owners);
  cache.rebuild((c) => translate(input, c));
  await eventually('the move pushed', () => a.frames.length === 2);
  const second = kindOf();
  const changed = [...second.resources.values()].filter((r) => first.resources.get(r.name)?.version !== r.version);
  const removed = [...first.resources.keys()].filter((n) => !second.resources.has(n)).sort();
  assert.deepEqual([changed.map((r) => r.name), removed], [['1', '3'], ['0']]);
  expectFrame(a.frames[1]!, second, changed, removed);
});
