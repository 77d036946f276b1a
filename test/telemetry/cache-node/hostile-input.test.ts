/**
 * What the cache node's fuzz campaigns found, one case each: long keys over gRPC, a misdirected
 * key whose message would not fit in a gRPC status, repeated key and shard headers, absolute-form
 * targets, and shard numbers no shard map can have.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { keyToShard } from '../../../src/sharding/index.js';
import { MAX_KEY_BYTES, startCacheNodeServer, type RunningCacheNode } from '../../../examples/cache-node/server.js';
import { storeValue } from '../../../examples/cache-node/tiers.js';
import { eventually } from '../../support/eventually.js';
import { exchange } from './raw-http.js';
import { fakeKeyway, getRequestBytes, NODE, S } from './fuzz-support.js';

type Ctx = { after(fn: () => Promise<void> | void): void };

async function nodeWithMap(t: Ctx, withMap = true): Promise<RunningCacheNode> {
  const keywayUrl = withMap ? await fakeKeyway(t as { after(fn: () => Promise<void>): void }) : undefined;
  const node = await startCacheNodeServer({ id: NODE, ...(keywayUrl ? { keywayUrl } : {}), l1Capacity: 10, l2Capacity: 20, l3DelayMs: 0, grpcPort: 0, pollIntervalMs: 60_000 });
  t.after(() => node.close());
  if (withMap) await eventually('ownership from the stand-in', () => node.ownership());
  return node;
}

/** A gRPC client of the node's Cache service that sends the raw GetRequest it builds. */
function grpcGet(t: Ctx, node: RunningCacheNode) {
  const client = new grpc.Client(`127.0.0.1:${node.grpcPort}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  return (key: string, shards: readonly string[] = []) =>
    new Promise<{ code: grpc.status; details: string; reply?: Buffer }>((resolve) => {
      const md = new grpc.Metadata();
      for (const s of shards) md.add('x-cache-shard', s);
      client.makeUnaryRequest(
        '/keyway.example.cache.v1.Cache/Get',
        (b: Buffer) => b,
        (b: Buffer) => b,
        getRequestBytes(key),
        md,
        { deadline: Date.now() + 3_000 },
        (err, reply) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '', reply: reply! }),
      );
    });
}

const rawGet = async (node: RunningCacheNode, target: string, headers: readonly string[] = []) => {
  const got = await exchange(node.httpPort, [Buffer.from([`GET ${target} HTTP/1.1`, 'Host: node', ...headers, 'Connection: close', '', ''].join('\r\n'), 'latin1')]);
  const body = got.raw.toString('latin1').split('\r\n\r\n')[1] ?? '';
  // The node answers with one chunk: its size line, the JSON, the last chunk.
  const json = body.includes('\r\n') ? body.split('\r\n')[1]! : body;
  return { status: got.statuses[0], body: (json.startsWith('{') ? JSON.parse(json) : { text: json }) as Record<string, unknown> };
};

test('a misdirected gRPC key of 16 KiB answers INVALID_ARGUMENT with a short message, and the channel keeps serving', async (t) => {
  const node = await nodeWithMap(t);
  const get = grpcGet(t, node);
  // Control characters: each one is six in JSON, and the whole key in the status message made a
  // trailer past HTTP/2's header list limit, which hung this call and every later one on the channel.
  const key = '\x01'.repeat(MAX_KEY_BYTES);
  const wrong = String((keyToShard(key, S) + 1) % S);
  const got = await get(key, [wrong]);
  assert.equal(got.code, grpc.status.INVALID_ARGUMENT, got.details);
  assert.ok(got.details.length < 2_000, `${got.details.length} characters of status message`);
  assert.match(got.details, /\(first 200 of 16384 characters\) hashes to shard \d+ of 64, but the request carried x-cache-shard \d+/);
  assert.equal((await get('user:1')).code, grpc.status.OK, 'the same channel still serves');
});

test('a key longer than MAX_KEY_BYTES is refused over gRPC, so distinct long keys cannot fill the tiers with megabytes each', async (t) => {
  const node = await nodeWithMap(t);
  const get = grpcGet(t, node);
  for (let i = 0; i < 5; i++) {
    const got = await get(`${i}`.padEnd(1_000_000, 'k'));
    assert.equal(got.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(got.details, `the key is 1000000 bytes of UTF-8; the node serves keys of at most ${MAX_KEY_BYTES}`);
  }
  assert.equal(node.cache.l2.size, 0, 'nothing was cached');
  // Multi-byte characters count as their UTF-8 bytes; the limit itself is served.
  assert.equal((await get('é'.repeat(MAX_KEY_BYTES / 2 + 1))).code, grpc.status.INVALID_ARGUMENT);
  assert.equal((await get('k'.repeat(MAX_KEY_BYTES))).code, grpc.status.OK);
});

test('a repeated x-cache-key or x-cache-shard is refused by name over HTTP (gRPC gets it joined, and refuses that)', async (t) => {
  const node = await nodeWithMap(t);
  const key = 'user:7';
  const shard = `x-cache-shard: ${keyToShard(key, S)}`;
  // Joined by Node into "user:7, user:7", the key used to be checked (421) or served as another key.
  assert.deepEqual(await rawGet(node, '/embeddings/doc', [shard, `x-cache-key: ${key}`, `x-cache-key: ${key}`]), { status: 400, body: { error: 'x-cache-key must be sent once, got 2 values' } });
  assert.deepEqual(await rawGet(node, `/kv/${key}`, [shard, shard]), { status: 400, body: { error: 'x-cache-shard must be sent once, got 2 values' } });
  assert.equal((await rawGet(node, '/embeddings/doc', [shard, `x-cache-key: ${key}`])).status, 200);
  const got = await grpcGet(t, node)(key, [String(keyToShard(key, S)), '9']);
  assert.equal(got.code, grpc.status.INVALID_ARGUMENT);
  // grpc-js sends the two values as one, joined: the node names the value it cannot read.
  assert.equal(got.details, `x-cache-shard must be a non-negative integer, got "${keyToShard(key, S)}, 9"`);
});

test('an absolute-form target is served as its origin-form (RFC 9112 §3.2.2)', async (t) => {
  const node = await nodeWithMap(t);
  assert.equal((await rawGet(node, 'http://node:7001/healthz')).status, 200);
  const viaKv = await rawGet(node, 'http://node/kv/user%3A9');
  assert.equal(viaKv.status, 200);
  assert.deepEqual([viaKv.body.key, viaKv.body.value], ['user:9', storeValue('user:9')]);
  // With x-cache-shard the key is the path and query, whichever form the client used.
  const routed = await rawGet(node, 'HTTP://node/emb/doc?x=1', [`x-cache-shard: ${keyToShard('/emb/doc?x=1', S)}`]);
  assert.equal(routed.status, 200);
  assert.equal(routed.body.key, '/emb/doc?x=1');
});

test('before its first shard map the node refuses an x-cache-shard no shard map can have, instead of wrapping it in the gRPC reply', async (t) => {
  const node = await nodeWithMap(t, false);
  const got = await grpcGet(t, node)('a', ['3000000000']);
  assert.equal(got.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(got.details, 'x-cache-shard 3000000000 does not exist: shards are 0..1048575 at most');
  const http = await rawGet(node, '/kv/a', ['x-cache-shard: 99999999999999999999999']);
  assert.deepEqual(http, { status: 400, body: { error: 'x-cache-shard "99999999999999999999999" does not exist: shards are 0..1048575 at most' } });
  assert.equal((await grpcGet(t, node)('a', ['1048575'])).code, grpc.status.OK);
});
