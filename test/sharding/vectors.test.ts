// Both hash contracts against the JSON vectors in testdata/vectors, and the vectors against an
// independent BigInt reference and published values, so neither side merely agrees with itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import {
  computeShardMap,
  endpointKey,
  hashTag,
  keyToShard,
  lnFdlibm,
  murmur3x86_32,
  rendezvousScore,
  rendezvousU,
  rendezvousZ,
  u64Hex,
} from '../../src/sharding/index.js';
import fc from 'fast-check';
import { encodeUtf8Scratch, scratchBytes } from '../../src/sharding/key-to-shard.js';
import { PROPERTY_SEED } from './arbitraries.js';
import { fnv1a64Ref, hex64, referenceOwners, scoreRef, splitMix64Sequence, uRef, zRef } from './reference.js';

const load = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../../testdata/vectors/${name}`, import.meta.url), 'utf8')) as T;

interface MurmurVector {
  input_hex: string;
  seed: number;
  hash: number;
  source: string;
}
interface KeyVector {
  key: string;
  tag: string;
  hash: number;
  shards: number;
  shard: number;
}
interface RendezvousVectors {
  keys: { id: string; k: string }[];
  ln: { u: number; ln: number }[];
  scores: { id: string; shard: number; z: string; u: number; scores: { weight: number; score: number }[] }[];
  topologies: { name: string; policy: ShardingPolicy; endpoints: Endpoint[]; version: string; warnings: string[]; owners: string[][] }[];
}

const murmur = load<{ vectors: MurmurVector[] }>('murmur3.json');
const keys = load<{ vectors: KeyVector[] }>('key-to-shard.json');
const rdv = load<RendezvousVectors>('rendezvous.json');

test('murmur3 x86_32 matches every vector, including the published ones', () => {
  const published = murmur.vectors.filter((v) => v.source === 'published');
  assert.ok(published.length >= 20, 'published MurmurHash3 values are part of the vectors');
  for (const v of murmur.vectors) {
    const got = murmur3x86_32(new Uint8Array(Buffer.from(v.input_hex, 'hex')), v.seed);
    assert.equal(got, v.hash, `${v.input_hex} seed ${v.seed}`);
  }
  // Widely published values not in the file, checked literally here.
  const utf8 = (s: string) => new TextEncoder().encode(s);
  assert.equal(murmur3x86_32(utf8('hello, world')), 345750399);
  assert.equal(murmur3x86_32(utf8('Hello, world!'), 0), 3224780355);
});

test('key to shard and hash tags match every vector', () => {
  assert.ok(keys.vectors.length > 100);
  const kinds = new Set<string>();
  for (const v of keys.vectors) {
    assert.equal(hashTag(v.key), v.tag, `tag of ${JSON.stringify(v.key)}`);
    assert.equal(murmur3x86_32(new TextEncoder().encode(v.tag)), v.hash, `hash of ${JSON.stringify(v.key)}`);
    assert.equal(keyToShard(v.key, v.shards), v.shard, `${JSON.stringify(v.key)} mod ${v.shards}`);
    assert.equal(v.shard, v.hash % v.shards);
    if (v.key === '') kinds.add('empty');
    if ([...v.key].some((c) => c.codePointAt(0)! > 0x7f)) kinds.add('multibyte');
    if (v.tag !== v.key) kinds.add('tag');
  }
  assert.deepEqual([...kinds].sort(), ['empty', 'multibyte', 'tag']);
});

test('hash tag follows the Redis Cluster rule', () => {
  assert.equal(hashTag('{}x'), '{}x');
  assert.equal(hashTag('a{b}{c}'), 'b');
  assert.equal(hashTag('{{a}}'), '{a');
  assert.equal(hashTag('foo{}{bar}'), 'foo{}{bar}');
  assert.equal(hashTag('foo{{bar}}zap'), '{bar');
  assert.equal(hashTag('x{y'), 'x{y');
  assert.equal(hashTag('}{x}'), 'x');
  assert.equal(keyToShard('{user1000}.following', 16384), keyToShard('{user1000}.followers', 16384));
});

test('keyToShard rejects a shard count below 1 or fractional', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => keyToShard('k', bad), (e: Error & { code?: string }) => e.code === 'BAD_ARGUMENT');
  }
});

test('the BigInt reference reproduces published FNV-1a 64 and SplitMix64 values', () => {
  const utf8 = (s: string) => new TextEncoder().encode(s);
  assert.equal(hex64(fnv1a64Ref(utf8(''))), 'cbf29ce484222325');
  assert.equal(hex64(fnv1a64Ref(utf8('a'))), 'af63dc4c8601ec8c');
  assert.equal(hex64(fnv1a64Ref(utf8('foobar'))), '85944171f73967e8');
  // Vigna's splitmix64.c seeded with 1234567 and with 0.
  assert.deepEqual(splitMix64Sequence(1234567n, 5).map(String), [
    '6457827717110365317',
    '3203168211198807973',
    '9817491932198370423',
    '4593380528125082431',
    '16408922859458223821',
  ]);
  assert.equal(hex64(splitMix64Sequence(0n, 1)[0]!), 'e220a8397b1dcdaf');
});

test('endpoint keys, z, u and scores match the vectors and the BigInt reference', () => {
  for (const v of rdv.keys) {
    assert.equal(u64Hex(endpointKey(v.id)), v.k, v.id);
    assert.equal(hex64(fnv1a64Ref(new TextEncoder().encode(v.id))), v.k, `reference k of ${v.id}`);
  }
  assert.ok(rdv.scores.length >= 50);
  for (const v of rdv.scores) {
    const what = `${v.id} shard ${v.shard}`;
    assert.equal(u64Hex(rendezvousZ(v.id, v.shard)), v.z, what);
    assert.equal(hex64(zRef(v.id, v.shard)), v.z, `reference z of ${what}`);
    assert.equal(rendezvousU(v.id, v.shard), v.u, what);
    assert.equal(uRef(zRef(v.id, v.shard)), v.u, `reference u of ${what}`);
    assert.ok(v.u > 0 && v.u < 1);
    for (const s of v.scores) {
      assert.equal(rendezvousScore(v.id, v.shard, s.weight), s.score, `${what} weight ${s.weight}`);
      assert.equal(scoreRef(v.id, v.shard, s.weight), s.score, `reference score of ${what}`);
    }
  }
});

test('z agrees with the BigInt reference on many ids and shards beyond the vectors', () => {
  for (let i = 0; i < 200; i++) {
    const id = `pod-${i * 7919}.svc`;
    for (const shard of [0, i, 4095 + i, 1048575 - i]) {
      assert.equal(u64Hex(rendezvousZ(id, shard)), hex64(zRef(id, shard)), `${id} ${shard}`);
    }
  }
});

test("keyway's fdlibm ln matches the ln vectors and V8's Math.log (also fdlibm) bit for bit", () => {
  assert.ok(rdv.ln.length >= 40);
  for (const v of rdv.ln) {
    assert.equal(lnFdlibm(v.u), v.ln, `ln(${v.u})`);
    assert.equal(Math.log(v.u), v.ln, `Math.log(${v.u})`);
  }
  // Math.log is a separate (C++) fdlibm; agreement on many u values of the contract's form checks
  // the port. If a Node upgrade changes Math.log this fails, while keyway's maps would not change.
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }), (m) => {
      const u = (Number(m) + 0.5) / 2 ** 52;
      assert.equal(lnFdlibm(u), Math.log(u));
    }),
    { numRuns: 20000, seed: PROPERTY_SEED },
  );
});

test('owner lists of the vector topologies match computeShardMap and the literal greedy reference', () => {
  const spreads = new Set<string>();
  for (const t of rdv.topologies) {
    spreads.add(t.policy.spread);
    const map = computeShardMap(t.endpoints, t.policy);
    assert.deepEqual(map.owners, t.owners, t.name);
    assert.equal(map.version, t.version, t.name);
    assert.deepEqual(map.warnings, t.warnings, t.name);
    assert.deepEqual(referenceOwners(t.endpoints, t.policy), t.owners, `reference owners of ${t.name}`);
  }
  assert.deepEqual([...spreads].sort(), ['none', 'subzone', 'zone']);
});

test('the hand-written UTF-8 encoder of keyToShard agrees with TextEncoder, lone surrogates included', () => {
  const encoder = new TextEncoder();
  const unit = fc.oneof(
    fc.integer({ min: 0, max: 0x7f }),
    fc.integer({ min: 0x80, max: 0xffff }),
    fc.integer({ min: 0xd800, max: 0xdfff }),
  ).map((c) => String.fromCharCode(c));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit }), fc.string({ unit: 'binary' })), (s) => {
      const n = encodeUtf8Scratch(s);
      assert.deepEqual(scratchBytes(n), encoder.encode(s));
      assert.equal(keyToShard(s, 1 << 20), murmur3x86_32(encoder.encode(hashTag(s))) % (1 << 20));
    }),
    { numRuns: 2000, seed: PROPERTY_SEED },
  );
});
