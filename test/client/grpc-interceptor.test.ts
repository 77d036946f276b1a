// shardInterceptor against a real @grpc/grpc-js server on 127.0.0.1 that echoes the metadata it
// received: the shard from x-cache-key metadata, from keyOf over the request message, an existing
// x-cache-shard left alone, no key no header; unary and server-streaming calls.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type Client,
  type ServiceDefinition,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type ClientReadableStream,
} from '@grpc/grpc-js';
import { shardInterceptor, shardFor, KeywayError, type ShardInterceptorOptions } from '../../src/client/index.js';

interface Req {
  readonly key: string;
}
type Echo = Record<string, string>;

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')),
};
const service = {
  Get: { path: '/test.Echo/Get', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  Watch: { path: '/test.Echo/Watch', requestStream: false, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
} as unknown as ServiceDefinition;

function echo(md: Metadata): Echo {
  const out: Echo = {};
  for (const name of ['x-cache-shard', 'x-cache-key']) {
    const v = md.get(name);
    if (v.length > 0) out[name] = v.map(String).join(',');
  }
  return out;
}

interface EchoClient extends Client {
  Get(req: Req, md: Metadata, cb: (err: Error | null, res?: Echo) => void): void;
  Watch(req: Req, md: Metadata): ClientReadableStream<Echo>;
}

async function startEcho(t: TestContext): Promise<number> {
  const server = new Server();
  server.addService(service, {
    Get: (call: ServerUnaryCall<Req, Echo>, cb: sendUnaryData<Echo>) => cb(null, echo(call.metadata)),
    Watch: (call: ServerWritableStream<Req, Echo>) => {
      call.write(echo(call.metadata));
      call.write({ again: 'yes' });
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.after(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  return port;
}

function client(t: TestContext, port: number, opts: ShardInterceptorOptions): EchoClient {
  const Ctor = makeGenericClientConstructor(service as never, 'Echo');
  const c = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure(), { interceptors: [shardInterceptor(opts)] }) as unknown as EchoClient;
  t.after(() => c.close());
  return c;
}

const get = (c: EchoClient, key: string, md = new Metadata()): Promise<Echo> =>
  new Promise((resolve, reject) => c.Get({ key }, md, (err, res) => (err ? reject(err) : resolve(res!))));

function watch(c: EchoClient, key: string, md = new Metadata()): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const got: unknown[] = [];
    const s = c.Watch({ key }, md);
    s.on('data', (d) => got.push(d));
    s.on('error', reject);
    s.on('end', () => resolve(got));
  });
}

test('shardInterceptor: x-cache-shard from the x-cache-key metadata', async (t) => {
  const port = await startEcho(t);
  const c = client(t, port, { shardCount: 1024 });
  const md = new Metadata();
  md.set('x-cache-key', '{user:42}:cart');
  assert.deepEqual(await get(c, 'ignored', md), { 'x-cache-key': '{user:42}:cart', 'x-cache-shard': String(shardFor('user:42', 1024)) });
  assert.deepEqual(await get(c, 'no key in metadata'), {}, 'no key: no header');
  const pinned = new Metadata();
  pinned.set('x-cache-key', 'a');
  pinned.set('x-cache-shard', '7');
  assert.deepEqual(await get(c, 'a', pinned), { 'x-cache-key': 'a', 'x-cache-shard': '7' }, 'an explicit shard wins');
  const md2 = new Metadata();
  md2.set('x-cache-key', 'a');
  const [first] = await watch(c, 'x', md2);
  assert.deepEqual(first, { 'x-cache-key': 'a', 'x-cache-shard': '434' });
});

test('shardInterceptor: keyOf reads the key from the request message, unary and server streaming', async (t) => {
  const port = await startEcho(t);
  const seen: string[] = [];
  const c = client(t, port, {
    shardCount: 16384,
    keyOf: ({ method, message }) => {
      seen.push(method);
      return (message as Req).key === 'fallback' ? undefined : (message as Req).key;
    },
  });
  for (const key of ['user:1000', 'ключ', '🔑emoji', '']) {
    assert.deepEqual(await get(c, key), { 'x-cache-shard': String(shardFor(key, 16384)) }, key);
  }
  const streamed = await watch(c, 'foo{bar}{zap}');
  assert.deepEqual(streamed, [{ 'x-cache-shard': String(shardFor('bar', 16384)) }, { again: 'yes' }]);
  assert.deepEqual(seen.slice(-2), ['/test.Echo/Get', '/test.Echo/Watch']);

  // keyOf without an answer falls back to the x-cache-key metadata.
  const md = new Metadata();
  md.set('x-cache-key', 'a');
  assert.deepEqual(await get(c, 'fallback', md), { 'x-cache-key': 'a', 'x-cache-shard': String(shardFor('a', 16384)) });
});

test('shardInterceptor rejects a bad shard count up front', () => {
  assert.throws(() => shardInterceptor({ shardCount: 0 }), (e: KeywayError) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT');
});
