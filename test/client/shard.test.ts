// keyway/client's hash contract 1 and routing headers: every key-to-shard vector through shardFor,
// from the source and from the built package entry (`keyway/client`, as an application imports
// it), and as bytes; a very long key; the headers as a real HTTP server receives them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { shardFor, hashTag, shardHeaders, withShardHeader, KeywayError } from '../../src/client/index.js';
import { keyBytesToShard } from '../../src/sharding/index.js';

interface KeyVector {
  readonly key: string;
  readonly tag: string;
  readonly shards: number;
  readonly shard: number;
}
const vectors = (JSON.parse(readFileSync('testdata/vectors/key-to-shard.json', 'utf8')) as { vectors: KeyVector[] }).vectors;

test('shardFor and hashTag match every key-to-shard vector', () => {
  assert.ok(vectors.length >= 100);
  for (const v of vectors) {
    assert.equal(hashTag(v.key), v.tag, `tag of ${JSON.stringify(v.key)}`);
    assert.equal(shardFor(v.key, v.shards), v.shard, `${JSON.stringify(v.key)} mod ${v.shards}`);
  }
});

test('the built keyway/client entry matches every key-to-shard vector', async () => {
  const lib = (await import('keyway/client')) as typeof import('../../src/client/index.js');
  for (const v of vectors) assert.equal(lib.shardFor(v.key, v.shards), v.shard, `${JSON.stringify(v.key)} mod ${v.shards}`);
  assert.equal(typeof lib.ShardMapClient, 'function');
  assert.equal(typeof lib.shardInterceptor, 'function');
  assert.equal(typeof lib.withShardHeader, 'function');
});

test('related keys share a tag and so a shard; a bad shard count is BAD_ARGUMENT', () => {
  assert.equal(shardFor('{user:42}:profile', 1024), shardFor('{user:42}:cart', 1024));
  assert.equal(shardFor('{user:42}:profile', 1024), shardFor('user:42', 1024));
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => shardFor('k', bad), (e: KeywayError) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT');
  }
  // A count read from the environment and passed on as a string is named as one.
  assert.throws(() => shardFor('k', '8' as unknown as number), /shard count must be an integer >= 1, got the string "8"/);
});

test('shardHeaders: the shard in decimal, the key only when asked and only as printable ASCII', () => {
  assert.deepEqual(shardHeaders('a', 1024), { 'x-cache-shard': '434' });
  assert.deepEqual(shardHeaders('a', 1024, { includeKey: true }), { 'x-cache-shard': '434', 'x-cache-key': 'a' });
  assert.throws(() => shardHeaders('ключ', 1024, { includeKey: true }), (e: KeywayError) => e.code === 'BAD_ARGUMENT');
  assert.throws(() => shardHeaders('a\nb', 1024, { includeKey: true }), (e: KeywayError) => e.code === 'BAD_ARGUMENT');
});

test('withShardHeader: fetch sends x-cache-shard (and x-cache-key) and keeps the caller headers', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.headers));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/get`;

  const init: RequestInit = { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain', 'x-cache-shard': 'stale' } };
  const echoed = (await (await fetch(url, withShardHeader(init, '{user:42}:cart', 1024))).json()) as Record<string, string>;
  assert.equal(echoed['x-cache-shard'], String(shardFor('user:42', 1024)));
  assert.equal(echoed['content-type'], 'text/plain');
  assert.equal(echoed['x-cache-key'], undefined);
  assert.deepEqual(init.headers, { 'content-type': 'text/plain', 'x-cache-shard': 'stale' }, 'the caller init is not changed');

  const headers = new Headers([['authorization', 'Bearer t']]);
  await fetch(url, withShardHeader({ headers }, 'user:1000', 16384, { includeKey: true }));
  assert.equal(seen[1]!['x-cache-shard'], String(shardFor('user:1000', 16384)));
  assert.equal(seen[1]!['x-cache-key'], 'user:1000');
  assert.equal(seen[1]!.authorization, 'Bearer t');

  await fetch(url, withShardHeader(undefined, 'a', 7));
  assert.equal(seen[2]!['x-cache-shard'], '4');
});

test('shardHeaders with includeKey refuses a key with white space at either end: HTTP drops it, so the key would arrive other than the shard was computed from', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => void (seen.push(req.headers), res.end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // Why: the key a proxy or cache node receives is not the key sent.
  await fetch(url, { headers: { 'x-cache-key': ' a ' } });
  assert.equal(seen[0]!['x-cache-key'], 'a');
  for (const key of [' a', 'a ', ' ', '\ta']) {
    assert.throws(() => shardHeaders(key, 1024, { includeKey: true }), (e: KeywayError) => e.code === 'BAD_ARGUMENT' && e.location.field === 'x-cache-key', JSON.stringify(key));
    assert.throws(() => withShardHeader(undefined, key, 1024, { includeKey: true }), (e: KeywayError) => e.code === 'BAD_ARGUMENT', JSON.stringify(key));
  }
  assert.deepEqual(shardHeaders('a b', 1024, { includeKey: true })['x-cache-key'], 'a b', 'inner space is kept by HTTP');
  assert.deepEqual(shardHeaders(' a', 1024), { 'x-cache-shard': String(shardFor(' a', 1024)) }, 'without the key, any key');
  assert.deepEqual(shardHeaders(Buffer.from('a'), 1024), { 'x-cache-shard': '434' }, 'a key as bytes');
  assert.throws(() => shardHeaders(Buffer.from('a'), 1024, { includeKey: true }), (e: KeywayError) => e.code === 'BAD_ARGUMENT' && e.location.field === 'x-cache-key');
});

test('shardFor takes a key as bytes (Buffer, Uint8Array) and hashes those bytes, as the data planes hash a key that arrives as bytes', () => {
  for (const v of vectors) {
    if (/[\ud800-\udfff]/.test(v.key.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) continue; // a lone surrogate has no bytes of its own
    assert.equal(shardFor(Buffer.from(v.key), v.shards), v.shard, `Buffer of ${JSON.stringify(v.key)} mod ${v.shards}`);
    assert.equal(shardFor(new TextEncoder().encode(v.key), v.shards), v.shard, `Uint8Array of ${JSON.stringify(v.key)} mod ${v.shards}`);
  }
  // Bytes that are not UTF-8 are not decoded (a decode would make them U+FFFD and move the key).
  const latin1 = Buffer.from('{caf\xe9}:1', 'latin1');
  assert.equal(shardFor(latin1, 16384), keyBytesToShard(latin1, 16384));
  assert.notEqual(shardFor(latin1, 16384), shardFor(latin1.toString('utf8'), 16384));
  assert.equal(shardFor(Buffer.alloc(0), 1024), shardFor('', 1024));
  // Anything else is a typed error, not a TypeError from deep in the hash.
  for (const bad of [42, null, undefined, {}, new Uint16Array([0x61]), ['a']]) {
    assert.throws(() => shardFor(bad as unknown as string, 1024), (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === 'key', String(bad));
  }
});

test('shardFor of a very long key keeps no memory the size of the key once it returns', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // Array buffers are freed behind the collector: measure until the garbage is gone (a kept buffer never goes).
  const settled = async (): Promise<number> => {
    let least = Infinity;
    for (let i = 0; i < 10; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
      least = Math.min(least, process.memoryUsage().arrayBuffers);
    }
    return least;
  };
  const long = `${'é'.repeat(10_000_000)}\ud800`; // 20 MB of UTF-8, no tag, a lone surrogate at the end
  let bytes: Uint8Array | undefined = new TextEncoder().encode(long);
  const want = keyBytesToShard(bytes, 16384);
  bytes = undefined;
  const before = await settled();
  assert.equal(shardFor(long, 16384), want);
  assert.equal(shardFor(`{${long}}`, 16384), want, 'a long tag alike');
  const kept = (await settled()) - before;
  assert.ok(kept < 1_000_000, `${kept} bytes kept after hashing a key of 20 MB`);
});
