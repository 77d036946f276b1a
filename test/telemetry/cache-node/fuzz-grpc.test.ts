/**
 * Fuzz of the example cache node's gRPC surface (cache.proto, Cache/Get): random keys (control
 * characters, lone surrogates, tags, long ones, some past MAX_KEY_BYTES), random and repeated
 * x-cache-shard metadata, and messages that are not a GetRequest at all. Every call must end
 * within its deadline with OK (the key's value), INVALID_ARGUMENT, or, for bytes that do not
 * decode, grpc-js's own INTERNAL; the channel keeps serving; tiers and metrics stay bounded.
 * Seeded and short by default; a longer campaign:
 *   KEYWAY_FUZZ_ITERATIONS=5000 KEYWAY_FUZZ_SEED=7 node --import tsx --test test/telemetry/cache-node/fuzz-grpc.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { keyToShard } from '../../../src/sharding/index.js';
import { MAX_KEY_BYTES, startCacheNodeServer } from '../../../examples/cache-node/server.js';
import { storeValue } from '../../../examples/cache-node/tiers.js';
import { eventually } from '../../support/eventually.js';
import { fuzzBudget, Rng } from '../../support/seeded-random.js';
import { parseExposition } from '../support/exposition.js';
import { fakeKeyway, getRequestBytes, NODE, S } from './fuzz-support.js';

const CONCURRENCY = 8;


function randomKey(rng: Rng): string {
  const n = rng.chance(0.05) ? MAX_KEY_BYTES - 50 + rng.int(100) : rng.chance(0.1) ? rng.int(3_000) : rng.int(16);
  let s = '';
  while (s.length < n) {
    const r = rng.int(10);
    if (r < 5) s += String.fromCharCode(0x61 + rng.int(26));
    else if (r === 5) s += String.fromCharCode(rng.int(0x20)); // control characters
    else if (r === 6) s += String.fromCharCode(0xd800 + rng.int(0x800)); // a lone surrogate
    else if (r === 7) s += rng.pick(['{', '}', '{t}', ':', '/', '"', '\\']);
    else s += String.fromCodePoint(0x80 + rng.int(0x10000));
  }
  return s;
}

test('random gRPC Get calls end within their deadline with OK or INVALID_ARGUMENT, and the node keeps serving with bounded state', async (t) => {
  const { iterations, seed } = fuzzBudget(300);
  const keywayUrl = await fakeKeyway(t);
  const node = await startCacheNodeServer({ id: NODE, keywayUrl, l1Capacity: 50, l2Capacity: 200, l3DelayMs: 0, grpcPort: 0, pollIntervalMs: 60_000 });
  t.after(() => node.close());
  await eventually('ownership from the stand-in', () => node.ownership());
  const client = new grpc.Client(`127.0.0.1:${node.grpcPort}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const rng = new Rng(seed);
  const codes = new Map<string, number>();

  const one = async (i: number): Promise<void> => {
    const key = randomKey(rng);
    const junk = rng.chance(0.05);
    const message = junk ? Buffer.from(rng.bytes(rng.int(40))) : getRequestBytes(key);
    const md = new grpc.Metadata();
    const shard = keyToShard(key, S);
    for (let n = rng.chance(0.6) ? 1 + (rng.chance(0.1) ? 1 : 0) : 0; n > 0; n--) {
      md.add('x-cache-shard', rng.pick([String(shard), String(shard), String((shard + 1) % S), String(S), '-1', 'x', '', '3000000000', '9'.repeat(rng.int(400))]));
    }
    const got = await new Promise<{ code: grpc.status; details: string; reply?: Buffer }>((resolve) =>
      client.makeUnaryRequest('/keyway.example.cache.v1.Cache/Get', (b: Buffer) => b, (b: Buffer) => b, message, md, { deadline: Date.now() + 5_000 }, (err, reply) =>
        resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '', reply: reply! }),
      ),
    );
    const where = `seed ${seed}, case ${i}: ${JSON.stringify(junk ? message.toString('hex') : key.slice(0, 100))} (${Buffer.byteLength(key)} bytes), metadata ${JSON.stringify(md.get('x-cache-shard')).slice(0, 100)}`;
    codes.set(grpc.status[got.code]!, (codes.get(grpc.status[got.code]!) ?? 0) + 1);
    const allowed = junk ? [grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.INTERNAL] : [grpc.status.OK, grpc.status.INVALID_ARGUMENT];
    assert.ok(allowed.includes(got.code), `${grpc.status[got.code]} ${got.details.slice(0, 300)} (${where})`);
    assert.ok(got.details.length <= 1_000, `a status message of ${got.details.length} characters (${where})`);
    // What the node read is the key's UTF-8 (a lone surrogate arrives as U+FFFD), and it gets that key's value.
    if (got.code === grpc.status.OK && !junk) assert.ok(got.reply!.includes(storeValue(Buffer.from(key, 'utf8').toString('utf8'))), where);
  };
  for (let i = 0; i < iterations; i += CONCURRENCY) {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, iterations - i) }, (_, j) => one(i + j)));
  }
  t.diagnostic(`codes: ${JSON.stringify(Object.fromEntries(codes))}`);

  const reply = await new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest('/keyway.example.cache.v1.Cache/Get', (b: Buffer) => b, (b: Buffer) => b, getRequestBytes('user:42'), new grpc.Metadata(), (err, r) => (err ? reject(err) : resolve(r!))),
  );
  assert.ok(reply.includes(storeValue('user:42')), 'the channel still serves');
  assert.ok(node.cache.l1.size <= 50 && node.cache.l2.size <= 200, `tiers past capacity: l1 ${node.cache.l1.size}, l2 ${node.cache.l2.size}`);
  const exp = parseExposition(await (await fetch(`${node.url}/metrics`)).text());
  const series = exp.samples.filter((s) => s.name.startsWith('keyway_cache_'));
  assert.ok(series.length <= 20, `${series.length} keyway_cache_ series`);
});
