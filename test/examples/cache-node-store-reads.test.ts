/**
 * The example node's L3 reads: concurrent misses of one key share one store read, a failed read is
 * not kept, a hung read is let go at its bound, and the node answers a store failure with 503
 * (gRPC: UNAVAILABLE) rather than a generic 500.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';
import { StoreReadError, TieredCache } from '../../examples/cache-node/tiers.js';
import { CACHE_NODE_METRICS as C } from '../../src/telemetry/index.js';
import { parseExposition } from '../telemetry/support/exposition.js';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/cache-node/cache.proto');

/** A store whose reads the test answers by hand, counting them. */
function manualStore(): { read: (key: string, signal: AbortSignal) => Promise<string>; reads: string[]; answer: (value: string) => void; fail: (err: Error) => void } {
  const reads: string[] = [];
  const pending: Array<{ resolve: (v: string) => void; reject: (e: Error) => void }> = [];
  return {
    reads,
    read: (key) => {
      reads.push(key);
      return new Promise<string>((resolve, reject) => pending.push({ resolve, reject }));
    },
    answer: (value) => {
      for (const p of pending.splice(0)) p.resolve(value);
    },
    fail: (err) => {
      for (const p of pending.splice(0)) p.reject(err);
    },
  };
}

test('tiers: 50 concurrent misses of one key read the store once, and all get its value', async () => {
  const store = manualStore();
  const cache = new TieredCache({ l1Capacity: 10, l2Capacity: 100, l3DelayMs: 0, read: store.read });
  const gets = Array.from({ length: 50 }, () => cache.get('hot', true));
  await new Promise((r) => setImmediate(r));
  assert.equal(store.reads.length, 1, `${store.reads.length} store reads for one key`);
  assert.equal(cache.storeReadsInFlight, 1);
  store.answer('V');
  const got = await Promise.all(gets);
  assert.ok(got.every((g) => g.value === 'V' && g.tier === 'l3'));
  assert.equal(cache.storeReadsInFlight, 0);
  assert.equal((await cache.get('hot', true)).tier, 'l1');
  assert.equal(store.reads.length, 1);
});

test('tiers: a failed store read fails its waiters and is not kept: the next miss reads again', async () => {
  const store = manualStore();
  const cache = new TieredCache({ l1Capacity: 10, l2Capacity: 100, l3DelayMs: 0, read: store.read });
  const a = cache.get('k', true);
  const b = cache.get('k', true);
  await new Promise((r) => setImmediate(r));
  store.fail(new Error('store down'));
  for (const p of [a, b]) await assert.rejects(p, (err: unknown) => err instanceof StoreReadError && err.code === 'STORE_FAILED' && /store down/.test(err.message));
  assert.equal(cache.l2.has('k'), false);
  const c = cache.get('k', true);
  await new Promise((r) => setImmediate(r));
  assert.equal(store.reads.length, 2);
  store.answer('V');
  assert.equal((await c).value, 'V');
});

test('tiers: a hung store read is let go at its bound, aborted, and a later miss reads again', async () => {
  let aborted: unknown;
  let reads = 0;
  const cache = new TieredCache({
    l1Capacity: 10,
    l2Capacity: 100,
    l3DelayMs: 0,
    storeTimeoutMs: 50,
    read: (_key, signal) => {
      reads++;
      signal.addEventListener('abort', () => (aborted = signal.reason), { once: true });
      return reads === 1 ? new Promise<string>(() => {}) : Promise.resolve('V');
    },
  });
  await assert.rejects(cache.get('k', true), (err: unknown) => err instanceof StoreReadError && err.code === 'STORE_TIMEOUT');
  assert.ok(aborted instanceof StoreReadError, 'the read was told to stop');
  assert.equal(cache.storeReadsInFlight, 0);
  assert.equal((await cache.get('k', true)).value, 'V');
  assert.equal(reads, 2);
  assert.throws(() => new TieredCache({ l1Capacity: 1, l2Capacity: 1, l3DelayMs: 0, storeTimeoutMs: 0 }), RangeError);
});

test('the node answers a failed store read 503 naming the code (gRPC: UNAVAILABLE), and serves the key once the store is back', async (t) => {
  let down = true;
  const node = await startCacheNodeServer({ id: 'n0', grpcPort: 0, storeRead: async (key) => (down ? Promise.reject(new Error('connection refused')) : `v:${key}`) });
  t.after(() => node.close());
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO)) as unknown as { keyway: { example: { cache: { v1: { Cache: grpc.ServiceClientConstructor } } } } };
  const client = new pkg.keyway.example.cache.v1.Cache(`127.0.0.1:${node.grpcPort}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const grpcErr = await new Promise<grpc.ServiceError | null>((resolve) =>
    (client as unknown as { Get: (r: object, cb: (e: grpc.ServiceError | null) => void) => void }).Get({ key: 'b' }, (err) => resolve(err)),
  );
  assert.equal(grpcErr?.code, grpc.status.UNAVAILABLE);
  assert.match(grpcErr?.details ?? '', /connection refused/);
  const failed = await fetch(`${node.url}/kv/a`);
  assert.equal(failed.status, 503);
  const body = (await failed.json()) as { error: string; code: string };
  assert.equal(body.code, 'STORE_FAILED');
  assert.match(body.error, /connection refused/);
  down = false;
  const ok = await fetch(`${node.url}/kv/a`);
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { value: string }).value, 'v:a');
});

test('30 requests at once for one cold key: one store read, and the counters say 30 requests, each an l3 hit', async (t) => {
  let reads = 0;
  const node = await startCacheNodeServer({
    id: 'n1',
    storeRead: async (key) => {
      reads++;
      await new Promise((r) => setTimeout(r, 50));
      return `v:${key}`;
    },
  });
  t.after(() => node.close());
  const answers = await Promise.all(Array.from({ length: 30 }, () => fetch(`${node.url}/kv/hot`).then(async (r) => [r.status, ((await r.json()) as { value: string }).value])));
  assert.ok(answers.every(([status, value]) => status === 200 && value === 'v:hot'));
  assert.equal(reads, 1, `${reads} store reads for one key`);
  const exp = parseExposition(await (await fetch(`${node.url}/metrics`)).text());
  const labels = { node: 'n1', region: '', zone: '', subzone: '' };
  assert.equal(exp.value(C.requests, { ...labels, owner: 'unknown' }), 30);
  assert.equal(exp.value(C.lookups, { ...labels, tier: 'l3', result: 'hit' }), 30);
  assert.equal(exp.value(C.lookups, { ...labels, tier: 'l1', result: 'miss' }), 30);
});

test('tiers: the simulated store is not bounded by the store timeout: an l3 delay past it still answers', async () => {
  const cache = new TieredCache({ l1Capacity: 1, l2Capacity: 1, l3DelayMs: 30 });
  assert.equal((await cache.get('k', true)).tier, 'l3');
  const bounded = new TieredCache({ l1Capacity: 1, l2Capacity: 1, l3DelayMs: 200, storeTimeoutMs: 20 });
  await assert.rejects(bounded.get('k', true), (err: unknown) => err instanceof StoreReadError && err.code === 'STORE_TIMEOUT');
});
