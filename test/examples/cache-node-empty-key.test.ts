/**
 * A gRPC Get without a key (proto3 sends an unset key as "") is refused with INVALID_ARGUMENT
 * instead of being served the value of the empty key, and nothing enters the tiers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/cache-node/cache.proto');

test('a gRPC Get without a key answers INVALID_ARGUMENT naming the key, and caches nothing', async (t) => {
  const node = await startCacheNodeServer({ id: 'e0', grpcPort: 0, l3DelayMs: 0 });
  t.after(() => node.close());
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO)) as unknown as { keyway: { example: { cache: { v1: { Cache: grpc.ServiceClientConstructor } } } } };
  const client = new pkg.keyway.example.cache.v1.Cache(`127.0.0.1:${node.grpcPort}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const get = (request: object): Promise<grpc.ServiceError | null> =>
    new Promise((resolve) => (client as unknown as { Get: (r: object, cb: (e: grpc.ServiceError | null) => void) => void }).Get(request, (err) => resolve(err)));
  for (const request of [{}, { key: '' }]) {
    const err = await get(request);
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `${JSON.stringify(request)}: ${err?.code}`);
    assert.match(err.details, /key is empty/);
  }
  assert.equal(node.cache.l1.size + node.cache.l2.size, 0);
  assert.equal(await get({ key: 'a' }), null);
});
