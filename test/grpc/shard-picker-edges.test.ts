// The keyway.shard_picker policy in real grpc-js channels (service config, no xDS) on the edges the
// main test does not cover: a call without a shard when every endpoint is down (missingHeader any),
// a key sent in binary (`-bin`) metadata, and an endpoint the config spells unlike EDS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Client, Metadata, Server, ServerCredentials, credentials, experimental, type ServiceError } from '@grpc/grpc-js';
import { registerShardPicker } from '../../src/grpc/index.js';
import { shardPickerTypes } from '../../src/grpc/shard-picker-balancer.js';
import { encodeOwners, type ShardPickerConfig } from '../../src/core/shard-picker.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../../e2e/support/ports.js';

const METHOD = '/keyway.test.Cache/Who';
const raw = (b: Buffer): Buffer => b;

async function serve(name: string): Promise<{ port: number; stop(): void }> {
  const s = new Server();
  s.addService(
    { Who: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Who: (_c: unknown, cb: (e: null, v: Buffer) => void) => cb(null, Buffer.from(name)) },
  );
  const port = await new Promise<number>((res, rej) => s.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port, stop: () => s.forceShutdown() };
}

function call(client: Client, metadata: Metadata, timeoutMs: number): Promise<string> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(METHOD, raw, raw, Buffer.alloc(0), metadata, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, v?: Buffer) =>
      resolve(err ? `${err.code} ${err.details}` : v!.toString()),
    ),
  );
}

function channel(endpoints: string[], config: ShardPickerConfig): Client {
  return new Client(`ipv4:${endpoints.join(',')}`, credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ 'keyway.shard_picker': config }] }),
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 200,
  });
}

test('missingHeader any with every endpoint down: a fail-fast call without a shard gets UNAVAILABLE, not a hang', async (t) => {
  registerShardPicker();
  // Ports nothing listens on: every connection is refused, both children go TRANSIENT_FAILURE.
  const endpoints = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`].sort();
  const client = channel(endpoints, {
    shardCount: 2,
    shardHeader: 'x-cache-shard',
    keyHeader: '',
    missingHeader: 'any',
    endpoints,
    owners: encodeOwners([[0], [1]], 1),
  });
  t.after(() => client.close());
  // A shard's call fails fast once its owner is down; wait for that, then the shard-less call must too.
  await eventually('shard 0 unavailable', () => call(client, metadataOf({ 'x-cache-shard': '0' }), 1000), {
    accept: (v) => v.startsWith('14 '),
    timeoutMs: 10_000,
  });
  // 3 s deadline: a queued call would end DEADLINE_EXCEEDED (4).
  assert.match(await call(client, new Metadata(), 3000), /^14 .*no endpoint is reachable/);
});

test('a key in binary metadata (-bin) is hashed by its bytes, as the Go picker does', async (t) => {
  registerShardPicker();
  const a = await serve('a');
  const b = await serve('b');
  t.after(() => [a, b].forEach((s) => s.stop()));
  const endpoints = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort();
  const name = (i: number): string => (endpoints[i] === `127.0.0.1:${a.port}` ? 'a' : 'b');
  // 2 shards: shard 0 on endpoint 0, shard 1 on endpoint 1; reject calls without a shard.
  const client = channel(endpoints, {
    shardCount: 2,
    shardHeader: 'x-cache-shard',
    keyHeader: 'x-cache-key-bin',
    missingHeader: 'reject',
    endpoints,
    owners: encodeOwners([[0], [1]], 1),
  });
  t.after(() => client.close());
  const withKey = (key: Buffer): Metadata => {
    const md = new Metadata();
    md.set('x-cache-key-bin', key);
    return md;
  };
  const { keyToShard } = await import('../../src/sharding/key-to-shard.js');
  await eventually('key a routed', () => call(client, withKey(Buffer.from('a')), 1000), { accept: (v) => v === name(keyToShard('a', 2)), timeoutMs: 10_000 });
  for (const key of ['a', 'b', 'c', 'user:42', '{user:42}:cart', 'ключ']) {
    assert.equal(await call(client, withKey(Buffer.from(key)), 1000), name(keyToShard(key, 2)), key);
  }
});

function metadataOf(h: Record<string, string>): Metadata {
  const md = new Metadata();
  for (const [k, v] of Object.entries(h)) md.set(k, v);
  return md;
}

test('EDS lists no endpoint at all: a fail-fast shard call fails UNAVAILABLE at once instead of queueing to its deadline', () => {
  const grpc = createRequire(import.meta.url)('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const { Balancer, Config } = shardPickerTypes(grpc);
  const published: { state: number; picker: experimental.Picker }[] = [];
  const helper = {
    createSubchannel: () => {
      throw new Error('no endpoint, no subchannel');
    },
    updateState: (state: number, picker: experimental.Picker) => published.push({ state, picker }),
    requestReresolution: () => undefined,
    addChannelzChild: () => undefined,
    removeChannelzChild: () => undefined,
  } as unknown as experimental.ChannelControlHelper;
  const lb = new Balancer(helper);
  const config = Config.createFromJson({
    shardCount: 2,
    shardHeader: 'x-cache-shard',
    keyHeader: '',
    missingHeader: 'reject',
    endpoints: ['127.0.0.1:1', '127.0.0.1:2'],
    owners: encodeOwners([[0], [1]], 1),
  });
  lb.updateAddressList({ ok: true, value: [] }, config, {}, '');
  const last = published.at(-1)!;
  assert.equal(last.state, grpc.connectivityState.TRANSIENT_FAILURE);
  const result = last.picker.pick({ metadata: metadataOf({ 'x-cache-shard': '0' }), extraPickInfo: {} });
  assert.equal(result.pickResultType, experimental.PickResultType.TRANSIENT_FAILURE, 'not QUEUE: nothing is about to connect');
  assert.equal(result.status?.code, grpc.status.UNAVAILABLE);
  assert.match(result.status!.details, /no owner of shard 0 is reachable/);
});

test('config endpoints match EDS addresses by socket, as the Go picker matches them, not by spelling', async (t) => {
  registerShardPicker();
  const a = await serve('a');
  t.after(() => a.stop());
  // The channel's address is 127.0.0.1:port; the config spells the same socket IPv4-mapped.
  const client = channel([`127.0.0.1:${a.port}`], {
    shardCount: 1,
    shardHeader: 'x-cache-shard',
    keyHeader: '',
    missingHeader: 'reject',
    endpoints: [`[::ffff:127.0.0.1]:${a.port}`],
    owners: encodeOwners([[0]], 1),
  });
  t.after(() => client.close());
  // Unmatched, the owner would stay "pending" and the call would wait out its deadline.
  await eventually('shard 0 on a', () => call(client, metadataOf({ 'x-cache-shard': '0' }), 1000), { accept: (v) => v === 'a', timeoutMs: 10_000 });
});
