// The keyway.shard_picker policy inside real grpc-js channels, without xDS: the channel's service
// config selects the policy with a hand-made config, the ipv4: resolver gives the endpoints, and
// real local servers answer with their name. Checks the pick rules end to end: primary, replica
// while the primary is down, UNAVAILABLE when every owner is down (fail-fast), a wait-for-ready
// call waiting until an owner returns, INVALID_ARGUMENT (as grpc-js reports it) for a bad shard header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Metadata, Server, ServerCredentials, credentials, type ServiceError } from '@grpc/grpc-js';
import { registerShardPicker } from '../../src/grpc/index.js';
import { encodeOwners, type ShardPickerConfig } from '../../src/core/shard-picker.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../../e2e/support/ports.js';

const METHOD = '/keyway.test.Cache/Who';
const raw = (b: Buffer): Buffer => b;

async function serve(name: string, port = 0): Promise<{ port: number; stop(): void }> {
  const s = new Server();
  s.addService(
    { Who: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Who: (_c: unknown, cb: (e: null, v: Buffer) => void) => cb(null, Buffer.from(name)) },
  );
  const bound = await new Promise<number>((res, rej) => s.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port: bound, stop: () => s.forceShutdown() };
}

function call(client: Client, md: Record<string, string>, waitForReady = false, timeoutMs = 1000): Promise<string> {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  if (waitForReady) metadata.setOptions({ waitForReady: true });
  return new Promise((resolve) =>
    client.makeUnaryRequest(METHOD, raw, raw, Buffer.alloc(0), metadata, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, v?: Buffer) =>
      resolve(err ? `${err.code} ${err.details}` : v!.toString()),
    ),
  );
}

test('the shard picker in a grpc-js channel: primary, replica, all owners down, wait-for-ready, bad header', async (t) => {
  registerShardPicker();
  // Ports below the ephemeral range: a and c stop and c comes back on its port, and meanwhile no
  // port-0 listener in a test file beside this one can be handed theirs.
  const a = await serve('a', await freePort());
  const b = await serve('b');
  const c = await serve('c', await freePort());
  let cNow = c;
  t.after(() => [a, b, cNow].forEach((s) => s.stop()));
  const endpoints = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`, `127.0.0.1:${c.port}`].sort();
  const idx = (port: number): number => endpoints.indexOf(`127.0.0.1:${port}`);
  // shard 0: a then b; shard 1: b then a; shard 2: c alone; shard 3: no owner.
  const config: ShardPickerConfig = {
    shardCount: 4,
    shardHeader: 'x-cache-shard',
    keyHeader: '',
    missingHeader: 'reject',
    endpoints,
    owners: encodeOwners([[idx(a.port), idx(b.port)], [idx(b.port), idx(a.port)], [idx(c.port)], []], 2),
  };
  const client = new Client(`ipv4:${endpoints.join(',')}`, credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ 'keyway.shard_picker': config }] }),
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 200,
  });
  t.after(() => client.close());

  await eventually('shard 0 on a', () => call(client, { 'x-cache-shard': '0' }), { accept: (v) => v === 'a', timeoutMs: 10_000 });
  for (let i = 0; i < 5; i++) {
    assert.equal(await call(client, { 'x-cache-shard': '0' }), 'a');
    assert.equal(await call(client, { 'x-cache-shard': '1' }), 'b');
    assert.equal(await call(client, { 'x-cache-shard': '2' }), 'c');
  }
  assert.match(await call(client, { 'x-cache-shard': '3' }), /^14 .*shard 3 has no owner/);
  // gRFC A54: grpc-js turns an LB policy's INVALID_ARGUMENT into INTERNAL, keeping the original in the message.
  assert.match(await call(client, { 'x-cache-shard': '4' }), /^13 .*INVALID_ARGUMENT.*x-cache-shard is "4"/);
  assert.match(await call(client, { 'x-cache-shard': '4' }, true), /^13 .*INVALID_ARGUMENT/, 'fails even with wait-for-ready');
  assert.match(await call(client, {}), /^13 .*INVALID_ARGUMENT.*no x-cache-shard/);

  // a down: shard 0 goes to its replica b; shard 1 stays on b.
  a.stop();
  await eventually('shard 0 on b', () => call(client, { 'x-cache-shard': '0' }), { accept: (v) => v === 'b', timeoutMs: 10_000 });
  assert.equal(await call(client, { 'x-cache-shard': '1' }), 'b');

  // c (shard 2's only owner) down: fail-fast calls get UNAVAILABLE naming the shard.
  c.stop();
  await eventually('shard 2 unavailable', () => call(client, { 'x-cache-shard': '2' }), {
    accept: (v) => /^14 .*no owner of shard 2 is reachable/.test(v),
    timeoutMs: 10_000,
  });
  // A wait-for-ready call waits until c is back on its port.
  const waiting = call(client, { 'x-cache-shard': '2' }, true, 15_000);
  await new Promise((r) => setTimeout(r, 300));
  cNow = await serve('c', c.port);
  assert.equal(await waiting, 'c');
});
