// The heap the ownership agents' classes hold (docs/ownership.md "Resources"): one proxy class per
// cache node, one ShardAssignment per shard and replica, so S x R encodings in all. What each one
// keeps is counted here: one serialized buffer (the Any handed out views it), a version string of
// its own (not a slice keeping the whole digest), and no memo key string beside the version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { ResourceEncoder, SnapshotCache, contentVersion } from '../../../src/xds/cache/index.js';
import { ShardAssignmentSchema } from '../../../src/xds/proto.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../../src/xds/translator/index.js';
import { heapAfterGc } from '../../support/heap.js';
import { endpoint, handInput } from '../translator/fixtures.js';

const agent = (node: string): ProxyClass => ({ flavor: 'agent', zone: '', subzone: '', node });

/** `nodes` cache nodes owning S shards R times over, each agent watching its own class. */
function fleet(shards: number, replicas: number, nodes: number): { cache: SnapshotCache; unwatch: () => void } {
  const eps = Array.from({ length: nodes }, (_, i) => endpoint(`gpu-node-${String(i).padStart(5, '0')}`, `10.0.${i >> 8}.${i & 255}`));
  const owners = Array.from({ length: shards }, (_, s) => Array.from({ length: replicas }, (_, r) => eps[(s * 7 + r * 13) % nodes]!.id));
  const input = handInput(eps, owners);
  const cache = new SnapshotCache({ build: (c) => translate(input, c), checkConsistency, servedClass: (c) => effectiveProxyClass(c, input) });
  const stops = eps.map((e) => cache.watch(agent(e.id), 'assignment', () => {}));
  return { cache, unwatch: () => stops.forEach((stop) => stop()) };
}

test('an encoding keeps one buffer: its Any is not stored, and the one handed out views `bytes`', () => {
  const { cache, unwatch } = fleet(64, 2, 8);
  const snapshot = cache.snapshot(agent('gpu-node-00000'))!;
  const resources = [...snapshot.kinds.assignment.resources.values()];
  assert.equal(resources.length, 16);
  for (const r of resources) {
    assert.ok(!Object.getOwnPropertyNames(r).includes('any'), `${r.name}: no Any object kept beside the bytes`);
    const any = r.any;
    assert.equal(any.value.buffer, r.bytes.buffer, `${r.name}: the Any's value is a view of the bytes, not a second copy`);
    assert.equal(any.typeUrl, r.typeUrl);
    assert.deepEqual(toBinary(AnySchema, any), r.bytes, `${r.name}: the Any is the one serialized`);
    assert.deepEqual(any.value, toBinary(ShardAssignmentSchema, r.message as never));
  }
  unwatch();
});

test('a version string keeps its 16 characters only, not the 64 of the digest it was cut from', async () => {
  const count = 20_000;
  const kept: string[] = [];
  const before = await heapAfterGc();
  for (let i = 0; i < count; i++) kept.push(contentVersion('t', new Uint8Array([i & 255, i >> 8])));
  const perVersion = ((await heapAfterGc()) - before) / count;
  assert.equal(new Set(kept).size, count);
  // A flat 16-character string is some 32 bytes and its array slot 8; a slice of the 64-character
  // hex digest kept the digest too, some 115 bytes in all.
  assert.ok(perVersion < 64, `${perVersion.toFixed(0)} bytes retained per version`);
});

test('the same bytes under two names are two encodings, each found again and forgotten alone', () => {
  const encoder = new ResourceEncoder();
  const message = create(ShardAssignmentSchema, { shard: 3, shardCount: 8 });
  const a = encoder.encode('assignment', { name: 'a', schema: ShardAssignmentSchema, message });
  const b = encoder.encode('assignment', { name: 'b', schema: ShardAssignmentSchema, message: create(ShardAssignmentSchema, { shard: 3, shardCount: 8 }) });
  assert.notEqual(a, b);
  assert.equal(a.version, b.version, 'one content, one version');
  assert.deepEqual([a.name, b.name, encoder.size, encoder.packedCount], ['a', 'b', 2, 2]);
  encoder.hold([a, b]);
  const again = (name: string) => encoder.encode('assignment', { name, schema: ShardAssignmentSchema, message: create(ShardAssignmentSchema, { shard: 3, shardCount: 8 }) });
  assert.equal(again('a'), a);
  assert.equal(again('b'), b);
  encoder.release([a]);
  assert.equal(encoder.size, 1);
  assert.equal(again('b'), b, 'b is still found once a is forgotten');
  assert.equal(encoder.packedCount, 2);
  const a2 = again('a');
  assert.notEqual(a2, a, 'a was forgotten: encoded anew');
  assert.equal(encoder.packedCount, 3);
  encoder.release([b]);
  encoder.sweep();
  assert.equal(encoder.size, 0);
});

test('S = 16384, R = 2, 200 agents: the cache and translator hold under 1000 bytes per assignment', async () => {
  const before = await heapAfterGc();
  const { cache, unwatch } = fleet(16_384, 2, 200);
  const perAssignment = ((await heapAfterGc()) - before) / (16_384 * 2);
  const classes = cache.classes();
  assert.equal(classes.length, 200);
  assert.equal(classes.reduce((n, c) => n + c.snapshot!.kinds.assignment.resources.size, 0), 16_384 * 2);
  // Some 830 bytes: the message and its translated resource, the encoding with its serialized Any
  // and version, and the memo and snapshot entries. Versions sliced from the digest made it some
  // 905, a memo key string per encoding some 955; with an Any kept beside the bytes (a second
  // buffer) and a key string per node's assignments too, some 1460. The bound leaves room for the
  // heap's noise: the tests above pin each part.
  assert.ok(perAssignment < 1000, `${perAssignment.toFixed(0)} bytes retained per assignment`);
  unwatch();
});
