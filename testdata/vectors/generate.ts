/**
 * Writes the hash-contract test vectors (docs/hashing.md) into testdata/vectors/*.json.
 *
 *   node --import tsx testdata/vectors/generate.ts
 *
 * Values come from keyway's implementation; test/sharding/vectors.test.ts checks them against an
 * independent BigInt reference (test/sharding/reference.ts) and against published MurmurHash3,
 * FNV-1a and SplitMix64 values, so the vectors are not merely self-consistent. Regenerating must
 * not change a committed value unless the contract itself changes (then ALGORITHM_ID changes too).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import {
  ALGORITHM_ID,
  computeShardMap,
  endpointKey,
  hashTag,
  lnFdlibm,
  keyToShard,
  murmur3x86_32,
  rendezvousScore,
  rendezvousU,
  rendezvousZ,
  u64Hex,
} from '../../src/sharding/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const utf8 = (s: string) => new TextEncoder().encode(s);
const hexBytes = (b: Uint8Array) => Buffer.from(b).toString('hex');

function write(name: string, body: object): void {
  writeFileSync(join(here, name), `${JSON.stringify(body, null, 2)}\n`);
}

// ---- MurmurHash3 x86_32 ----------------------------------------------------------------------
// Published values: the SMHasher-derived list (stackoverflow.com/questions/14747343, also used by
// Boost.Hash2's tests) and the mmh3/Go/JS cross-language demo value for "Hello world".
const published: [Uint8Array, number, number][] = [
  [new Uint8Array(0), 0, 0],
  [new Uint8Array(0), 1, 0x514e28b7],
  [new Uint8Array(0), 0xffffffff, 0x81f16f39],
  [Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
  [Uint8Array.of(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
  [Uint8Array.of(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
  [Uint8Array.of(0x21, 0x43, 0x65), 0, 0x7e4a8634],
  [Uint8Array.of(0x21, 0x43), 0, 0xa0f7b07a],
  [Uint8Array.of(0x21), 0, 0x72661cf4],
  [Uint8Array.of(0, 0, 0, 0), 0, 0x2362f9de],
  [Uint8Array.of(0, 0, 0), 0, 0x85f0b427],
  [Uint8Array.of(0, 0), 0, 0x30f4c306],
  [Uint8Array.of(0), 0, 0x514e28b7],
  [utf8('aaaa'), 0x9747b28c, 0x5a97808a],
  [utf8('aaa'), 0x9747b28c, 0x283e0130],
  [utf8('aa'), 0x9747b28c, 0x5d211726],
  [utf8('a'), 0x9747b28c, 0x7fa09ea6],
  [utf8('abcd'), 0x9747b28c, 0xf0478627],
  [utf8('abc'), 0x9747b28c, 0xc84a62dd],
  [utf8('ab'), 0x9747b28c, 0x74875592],
  [utf8('Hello, world!'), 0x9747b28c, 0x24884cba],
  [utf8('ππππππππ'), 0x9747b28c, 0xd58063c1],
  [utf8('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
  [utf8('Hello world'), 0, 2911983372],
];
const generatedInputs = ['', 'key', 'user:1000', 'embedding/7f3a', 'ключ', '鍵', '🔑', 'a'.repeat(37)];
const murmur = {
  description:
    'MurmurHash3_x86_32 over raw bytes. hash is the unsigned 32-bit result. source "published" values come from independent implementations; "keyway" values from this repository.',
  vectors: [
    ...published.map(([bytes, seed, hash]) => {
      const got = murmur3x86_32(bytes, seed);
      if (got !== hash) throw new Error(`murmur3 disagrees with a published vector: ${hexBytes(bytes)} seed ${seed}`);
      return { input_hex: hexBytes(bytes), seed, hash, source: 'published' };
    }),
    ...generatedInputs.flatMap((s) =>
      [0, 42].map((seed) => ({
        input_hex: hexBytes(utf8(s)),
        input_utf8: s,
        seed,
        hash: murmur3x86_32(utf8(s), seed),
        source: 'keyway',
      })),
    ),
  ],
};
write('murmur3.json', murmur);

// ---- Hash contract 1: key to shard -------------------------------------------------------------
const keys = [
  '',
  'a',
  'foo',
  'user:1000',
  'user:1000:profile',
  'embedding/v2/doc-8812/chunk-3',
  'kv-block:seq=4096:layer=31',
  'ключ',
  '鍵/値',
  '🔑emoji',
  'café',
  '{user1000}.following',
  '{user1000}.followers',
  'foo{}{bar}',
  '{}x',
  'a{b}{c}',
  '{{a}}',
  'foo{{bar}}zap',
  'foo{bar}{zap}',
  '{',
  '}',
  '}{x}',
  'x{',
  'x{y',
  '{ключ}:1',
  '{🔑}',
];
const shardCounts = [1, 7, 1024, 16384, 1048576];
write('key-to-shard.json', {
  description:
    'Hash contract 1: shard = murmur3_x86_32(utf8(tag), seed 0) mod shards, tag by the Redis Cluster {hash tag} rule. hash is the unsigned murmur3 of the tag.',
  vectors: keys.flatMap((key) => {
    const tag = hashTag(key);
    const hash = murmur3x86_32(utf8(tag), 0);
    return shardCounts.map((shards) => ({ key, tag, hash, shards, shard: keyToShard(key, shards) }));
  }),
});

// ---- Hash contract 2: rendezvous ---------------------------------------------------------------
const ids = ['gpu-a1', 'gpu-a2', 'gpu-b1', 'cache-0', 'cache-0.cache.ns.svc', 'node:7000', 'a', 'Z'];
const shards = [0, 1, 2, 3, 100, 1023, 16383, 1048575];
const weights = [1, 80, 0.5];

const loc = (zone: string, subzone: string) => ({ region: 'us-east', zone, subzone });
const ep = (id: string, zone: string, subzone: string, weight: number, ready = true): Endpoint => ({
  id,
  address: `10.0.0.${id.length}`,
  port: 7000,
  locality: loc(zone, subzone),
  weight,
  ready,
});
const example: Endpoint[] = [
  ep('gpu-a1', 'us-east-1a', 'nvl-1', 80),
  ep('gpu-a2', 'us-east-1a', 'nvl-1', 80),
  ep('gpu-a3', 'us-east-1a', 'nvl-2', 40),
  ep('gpu-a4', 'us-east-1a', 'nvl-2', 40),
  ep('gpu-b1', 'us-east-1b', 'nvl-3', 141),
  ep('gpu-b2', 'us-east-1b', 'nvl-3', 141),
  ep('gpu-b3', 'us-east-1b', 'nvl-4', 94),
  ep('gpu-b4', 'us-east-1b', 'nvl-4', 94),
];
const topologies: { name: string; policy: ShardingPolicy; endpoints: Endpoint[] }[] = [
  { name: 'three equal, R=1', policy: { shardCount: 16, replicas: 1, spread: 'none' }, endpoints: example.slice(0, 3).map((e) => ({ ...e, weight: 1 })) },
  { name: 'example, R=2, none', policy: { shardCount: 32, replicas: 2, spread: 'none' }, endpoints: example },
  { name: 'example, R=2, subzone', policy: { shardCount: 32, replicas: 2, spread: 'subzone' }, endpoints: example },
  { name: 'example, R=3, zone', policy: { shardCount: 32, replicas: 3, spread: 'zone' }, endpoints: example },
  { name: 'example, R=3, subzone', policy: { shardCount: 32, replicas: 3, spread: 'subzone' }, endpoints: example },
  {
    name: 'not ready and weight 0 own nothing, R=2, zone',
    policy: { shardCount: 16, replicas: 2, spread: 'zone' },
    endpoints: [...example.slice(0, 4), { ...example[4]!, ready: false }, { ...example[5]!, weight: 0 }, example[6]!],
  },
  {
    // The version's ninth element (docs/hashing.md "Shard map version").
    name: 'a draining endpoint owns nothing and has its own version, R=2, subzone',
    policy: { shardCount: 16, replicas: 2, spread: 'subzone' },
    endpoints: [...example.slice(0, 4), { ...example[4]!, ready: false, draining: true }, ...example.slice(5)],
  },
  {
    // Weights the version writes in exponent form (1e-7) and with ECMAScript's rounding (2^64).
    name: 'weights 1e-7 and 2^64, R=2, none',
    policy: { shardCount: 16, replicas: 2, spread: 'none' },
    endpoints: [{ ...example[0]!, weight: 1e-7 }, { ...example[1]!, weight: 2 ** 64 }, example[2]!],
  },
  {
    name: 'fewer eligible than R',
    policy: { shardCount: 8, replicas: 4, spread: 'subzone' },
    endpoints: example.slice(0, 3),
  },
];

write('rendezvous.json', {
  description:
    'Hash contract 2. k = FNV-1a 64 of utf8(id); z = SplitMix64 mix of k + (shard+1)*0x9E3779B97F4A7C15 mod 2^64; u = ((z >>> 12) + 0.5) / 2^52; score = -weight / ln(u) with fdlibm\'s ln (the ln list checks it). Owners: top R by score (ties by id), with the spread policy; listed in the order chosen. 64-bit values are 16 hex digits.',
  algorithm: ALGORITHM_ID,
  keys: ids.map((id) => ({ id, k: u64Hex(endpointKey(id)) })),
  ln: [
    ...[0.5 * 2 ** -52, 2 ** -40, 1e-9, 0.001, 0.25, 0.5, Math.SQRT1_2, 0.7071067811865476, 0.75, 0.9, 0.999999, 1 - 2 ** -52 * 1.5],
    ...ids.slice(0, 4).flatMap((id) => shards.map((shard) => rendezvousU(id, shard))),
  ].map((u) => ({ u, ln: lnFdlibm(u) })),
  scores: ids.flatMap((id) =>
    shards.map((shard) => ({
      id,
      shard,
      z: u64Hex(rendezvousZ(id, shard)),
      u: rendezvousU(id, shard),
      scores: weights.map((weight) => ({ weight, score: rendezvousScore(id, shard, weight) })),
    })),
  ),
  topologies: topologies.map((t) => {
    const map = computeShardMap(t.endpoints, t.policy);
    return {
      name: t.name,
      policy: t.policy,
      endpoints: t.endpoints,
      version: map.version,
      warnings: map.warnings,
      owners: map.owners,
    };
  }),
});
console.log('wrote murmur3.json, key-to-shard.json, rendezvous.json');
