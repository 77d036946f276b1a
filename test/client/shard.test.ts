// keyway/client's hash contract 1 and routing headers: every key-to-shard vector through shardFor,
// from the source and from the built package entry (`keyway/client`, as an application imports
// it); the headers as a real HTTP server receives them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { shardFor, hashTag, shardHeaders, withShardHeader, KeywayError } from '../../src/client/index.js';

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
