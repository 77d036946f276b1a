/**
 * The example node's gRPC server: its close is bounded while calls wait behind a simulated serving
 * capacity, its listen address brackets an IPv6 host, and a port it cannot take is named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SHUTDOWN_GRACE_MS, grpcBindAddress, startCacheNodeServer } from '../../examples/cache-node/server.js';
import { eventually } from '../support/eventually.js';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/cache-node/cache.proto');

test('close() ends gRPC calls still queued behind the serving capacity after a short grace', async (t) => {
  const node = await startCacheNodeServer({ id: 'g0', grpcPort: 0, serveRps: 1, l3DelayMs: 0 });
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO)) as unknown as { keyway: { example: { cache: { v1: { Cache: grpc.ServiceClientConstructor } } } } };
  const client = new pkg.keyway.example.cache.v1.Cache(`127.0.0.1:${node.grpcPort}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const get = (client as unknown as { Get: (r: unknown, cb: (e: Error | null) => void) => void }).Get.bind(client);
  // 8 calls at 1 a second: the last is done 8 s after the first.
  let answered = 0;
  const calls = Array.from({ length: 8 }, (_, i) => new Promise<void>((resolve) => get({ key: `k${i}` }, () => resolve(void answered++))));
  await eventually('the first call is served', () => answered >= 1);
  const started = Date.now();
  await node.close();
  const took = Date.now() - started;
  assert.ok(took < SHUTDOWN_GRACE_MS + 1_500, `close() took ${took} ms with calls queued`);
  await Promise.all(calls);
});

test('the gRPC listen address brackets an IPv6 host', () => {
  assert.equal(grpcBindAddress('::', 7101), '[::]:7101');
  assert.equal(grpcBindAddress('::1', 0), '[::1]:0');
  assert.equal(grpcBindAddress('[::1]', 0), '[::1]:0');
  assert.equal(grpcBindAddress('127.0.0.1', 7101), '127.0.0.1:7101');
  assert.equal(grpcBindAddress('cache-0.local', 7101), 'cache-0.local:7101');
});

test('a gRPC port the node cannot take fails the start naming the address', async (t) => {
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const port = (busy.address() as net.AddressInfo).port;
  await assert.rejects(startCacheNodeServer({ id: 'g1', grpcPort: port, l3DelayMs: 0 }), (err: Error) => {
    assert.match(err.message, new RegExp(`^the cache node's gRPC server cannot listen on 127\\.0\\.0\\.1:${port}: `));
    return true;
  });
});
