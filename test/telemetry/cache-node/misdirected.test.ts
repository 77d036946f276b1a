/**
 * The example cache node checks the key/shard pair (docs/observability.md "The example cache node"): a key that does
 * not hash to the x-cache-shard it came with answers 421 Misdirected Request (gRPC:
 * INVALID_ARGUMENT) and counts in keyway_cache_misdirected_requests_total.
 */
import { test } from 'node:test';
import http from 'node:http';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startServer } from '../../../src/app/index.js';
import { keyToShard } from '../../../src/sharding/index.js';
import { CACHE_NODE_METRICS as C } from '../../../src/telemetry/index.js';
import { startCacheNodeServer } from '../../../examples/cache-node/server.js';
import { tempTopology, topologyText } from '../../serve/support.js';
import { eventually } from '../../support/eventually.js';
import { parseExposition } from '../support/exposition.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const S = 64;

test('a key that does not hash to its x-cache-shard answers 421 with the reason and is counted; a correct pair is served', async (t) => {
  const topo = await tempTopology(topologyText({ shards: S, replicas: 2, ready: [true, true, true] }));
  const keyway = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 } } });
  t.after(async () => {
    await keyway.close();
    await topo.cleanup();
  });
  const node = await startCacheNodeServer({ id: 'e0', keywayUrl: `http://127.0.0.1:${keyway.httpPort}`, l3DelayMs: 0, pollIntervalMs: 100, grpcPort: 0, shardMetrics: true });
  t.after(() => node.close());
  await eventually('ownership from keyway', () => node.ownership());

  const key = 'user:7';
  const shard = keyToShard(key, S);
  const wrong = (shard + 1) % S;
  // node:http, not fetch: the Fetch standard has fetch() send a request again after a 421, which
  // would count twice.
  const get = (p: string, headers: Record<string, string>) =>
    new Promise<{ status: number; served: string | undefined; body: Record<string, unknown> }>((resolve, reject) => {
      http
        .get(`${node.url}${p}`, { headers, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, served: res.headers['x-served-by'] as string | undefined, body: JSON.parse(text) as Record<string, unknown> }));
        })
        .on('error', reject);
    });

  const ok = await get(`/kv/${encodeURIComponent(key)}`, { 'x-cache-shard': String(shard) });
  assert.equal(ok.status, 200);
  assert.deepEqual([ok.body.key, ok.body.shard], [key, shard]);

  const bad = await get(`/kv/${encodeURIComponent(key)}`, { 'x-cache-shard': String(wrong) });
  assert.equal(bad.status, 421);
  assert.equal(bad.served, 'e0', 'the refusal names the node');
  assert.equal(
    bad.body.error,
    `key "user:7" hashes to shard ${shard} of ${S}, but the request carried x-cache-shard ${wrong}: the client's hash is wrong (see docs/hashing.md)`,
  );
  assert.deepEqual([bad.body.key, bad.body.shard, bad.body.carriedShard, bad.body.shardCount], [key, shard, wrong, S]);

  // Any other path: the key is what x-cache-key names; without it there is no client key to check.
  assert.equal((await get('/embeddings/doc-9', { 'x-cache-shard': String(wrong), 'x-cache-key': key })).status, 421);
  assert.equal((await get('/embeddings/doc-9', { 'x-cache-shard': String(shard), 'x-cache-key': key })).status, 200);
  assert.equal((await get('/embeddings/doc-9', { 'x-cache-shard': String(wrong) })).status, 200);
  // No x-cache-shard: the node computes the shard itself, nothing to contradict.
  assert.equal((await get(`/kv/${encodeURIComponent(key)}`, {})).status, 200);

  // gRPC: the key is the request's, the shard the metadata's.
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(REPO, 'examples/cache-node/cache.proto'))) as unknown as {
    keyway: { example: { cache: { v1: { Cache: grpc.ServiceClientConstructor } } } };
  };
  const client = new pkg.keyway.example.cache.v1.Cache(`127.0.0.1:${node.grpcPort}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const call = (k: string, s: number) => {
    const md = new grpc.Metadata();
    md.set('x-cache-shard', String(s));
    return new Promise<Record<string, unknown>>((resolve, reject) =>
      (client as unknown as { Get: (r: unknown, m: grpc.Metadata, cb: (e: Error | null, v: Record<string, unknown>) => void) => void }).Get(
        { key: k },
        md,
        (err, v) => (err ? reject(err) : resolve(v)),
      ),
    );
  };
  assert.equal((await call(key, shard)).shard, shard);
  await assert.rejects(call(key, wrong), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /hashes to shard \d+ of 64, but the request carried x-cache-shard \d+/);
    return true;
  });

  const exp = parseExposition(await (await fetch(`${node.url}/metrics`)).text());
  assert.equal(exp.types.get(C.misdirected), 'counter');
  assert.equal(exp.value(C.misdirected, { node: 'e0', shard: String(wrong) }), 3, 'two HTTP refusals and one gRPC');
  assert.equal(exp.find(C.misdirected, { shard: String(shard) }).length, 0);
  assert.equal(exp.value(C.requests, { node: 'e0', shard: String(wrong) }), 1, 'only the unchecked request counts as served for the wrong shard');
});

test('a node that has not read a shard map does not know S and accepts any pair', async (t) => {
  const node = await startCacheNodeServer({ id: 'lonely', l3DelayMs: 0 });
  t.after(() => node.close());
  const key = 'user:7';
  const res = await fetch(`${node.url}/kv/${encodeURIComponent(key)}`, { headers: { 'x-cache-shard': String((keyToShard(key, 64) + 1) % 64) } });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { owner: string }).owner, 'unknown');
});

test('keys as the client named them: UTF-8 in x-cache-key, dot segments and backslashes kept, bad percent-encoding a 400', async (t) => {
  const topo = await tempTopology(topologyText({ shards: S, replicas: 1, ready: [true] }));
  const keyway = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1' });
  t.after(async () => {
    await keyway.close();
    await topo.cleanup();
  });
  const node = await startCacheNodeServer({ id: 'e0', keywayUrl: `http://127.0.0.1:${keyway.httpPort}`, l3DelayMs: 0, pollIntervalMs: 100 });
  t.after(() => node.close());
  await eventually('ownership from keyway', () => node.ownership());
  // node:http sends the path as given (fetch would resolve `..`) and header bytes as UTF-8 when asked.
  const get = (p: string, headers: Record<string, string | Buffer> = {}) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: new URL(node.url).port, path: p, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
      });
      for (const [k, v] of Object.entries(headers)) req.setHeader(k, typeof v === 'string' ? v : v.toString('latin1'));
      req.on('error', reject).end();
    });

  for (const key of ['ключ', '🔑emoji']) {
    const shard = keyToShard(key, S);
    const utf8 = Buffer.from(key, 'utf8');
    assert.equal((await get('/embeddings/doc-9', { 'x-cache-shard': String(shard), 'x-cache-key': utf8 })).status, 200, `${key} at its own shard`);
    const wrong = await get('/embeddings/doc-9', { 'x-cache-shard': String((shard + 1) % S), 'x-cache-key': utf8 });
    assert.equal(wrong.status, 421);
    assert.equal(wrong.body.key, key, 'the refusal names the key as the client sent it');
  }
  for (const key of ['x/../y', 'a/./b', '..', 'a\\b']) {
    const served = await get(`/kv/${key}`);
    assert.equal(served.status, 200, key);
    assert.equal(served.body.key, key);
    assert.equal(served.body.shard, keyToShard(key, S));
  }
  const bad = await get('/kv/%ZZ');
  assert.equal(bad.status, 400);
  assert.match(String(bad.body.error), /not valid percent-encoded UTF-8/);
  assert.equal((await get('/kv/%E0%A4%A')).status, 400);
});
