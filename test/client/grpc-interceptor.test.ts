// shardInterceptor against a real @grpc/grpc-js server on 127.0.0.1 that echoes the metadata it
// received: the shard from x-cache-key metadata, from keyOf over the request message, an existing
// x-cache-shard left alone, no key no header; unary, server-streaming and client-streaming calls;
// a client-streaming call that ends before its first message (cancelled, deadline, parent cancelled).
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
  type ClientUnaryCall,
  type ClientWritableStream,
  type ServerReadableStream,
  type ServiceError,
  type CallOptions,
  status,
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
  Put: { path: '/test.Echo/Put', requestStream: true, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  Relay: { path: '/test.Echo/Relay', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
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
  Put(md: Metadata, opts: CallOptions, cb: (err: ServiceError | null, res?: Echo) => void): ClientWritableStream<Req>;
  Relay(req: Req, md: Metadata, cb: (err: ServiceError | null, res?: Echo) => void): ClientUnaryCall;
}

interface EchoServer {
  readonly port: number;
  /** Put calls the server received. */
  readonly puts: () => number;
  /** Set by a test: what Relay does with its call (default: nothing, the call stays open). */
  relay: (call: ServerUnaryCall<Req, Echo>) => void;
}

async function startEcho(t: TestContext): Promise<number> {
  return (await startEchoServer(t)).port;
}

async function startEchoServer(t: TestContext): Promise<EchoServer> {
  const server = new Server();
  let puts = 0;
  const echoServer: EchoServer = { port: 0, puts: () => puts, relay: () => undefined };
  server.addService(service, {
    Put: (call: ServerReadableStream<Req, Echo>, cb: sendUnaryData<Echo>) => {
      puts++;
      call.on('data', () => undefined);
      call.on('end', () => cb(null, echo(call.metadata)));
    },
    Relay: (call: ServerUnaryCall<Req, Echo>) => echoServer.relay(call),
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
  t.after(() => server.forceShutdown());
  return Object.assign(echoServer, { port });
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
  // Given twice, the key is Envoy's and the pickers' to refuse: no shard from its first value.
  const twice = new Metadata();
  twice.add('x-cache-key', 'a');
  twice.add('x-cache-key', 'b');
  assert.equal((await get(c, 'x', twice))['x-cache-shard'], undefined, 'a repeated key sets no shard');
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

/** Opens a Put stream; resolves with its outcome (error code or reply) and how long it took, within 3 s. */
function put(c: EchoClient, opts: CallOptions, use: (s: ClientWritableStream<Req>) => void): Promise<{ code: number; reply?: Echo; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const bound = setTimeout(() => reject(new Error('the Put call did not complete within 3000 ms')), 3000);
    const s = c.Put(new Metadata(), opts, (err, reply) => {
      clearTimeout(bound);
      resolve({ code: err ? err.code : status.OK, ...(reply && { reply }), ms: Date.now() - started });
    });
    use(s);
  });
}

test('shardInterceptor with keyOf: a client-streaming call gets its shard from the first message written', { timeout: 10_000 }, async (t) => {
  const server = await startEchoServer(t);
  const c = client(t, server.port, { shardCount: 1024, keyOf: ({ message }) => (message as Req | undefined)?.key });
  const written = await put(c, {}, (s) => {
    s.write({ key: '{user:42}:cart' });
    s.write({ key: 'other' });
    s.end();
  });
  assert.deepEqual(written.reply, { 'x-cache-shard': String(shardFor('user:42', 1024)) });
  const empty = await put(c, {}, (s) => s.end());
  assert.deepEqual(empty.reply, {}, 'no message, no key: no header');
});

test('shardInterceptor with keyOf: a client-streaming call that ends before its first message completes', { timeout: 10_000 }, async (t) => {
  const server = await startEchoServer(t);
  const c = client(t, server.port, { shardCount: 1024, keyOf: ({ message }) => (message as Req | undefined)?.key });
  await new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())));

  const cancelledAtOnce = await put(c, {}, (s) => s.cancel());
  assert.equal(cancelledAtOnce.code, status.CANCELLED);
  const cancelledLater = await put(c, {}, (s) => setTimeout(() => s.cancel(), 50));
  assert.equal(cancelledLater.code, status.CANCELLED);
  const late = await put(c, { deadline: Date.now() + 100 }, () => undefined);
  assert.equal(late.code, status.DEADLINE_EXCEEDED);
  assert.ok(late.ms >= 90 && late.ms < 2000, `ended at the deadline, not ${late.ms} ms`);
  const past = await put(c, { deadline: Date.now() - 1 }, () => undefined);
  assert.equal(past.code, status.DEADLINE_EXCEEDED);
  assert.equal(server.puts(), 0, 'a call that ends before its first message never reaches the server');

  // A call made on behalf of a server call ends with it (deadline and cancellation propagate).
  const relayed = new Promise<number>((resolve) => {
    server.relay = (call) => void put(c, { parent: call }, () => undefined).then((r) => resolve(r.code));
  });
  const outer = c.Relay({ key: 'k' }, new Metadata(), () => undefined);
  setTimeout(() => outer.cancel(), 100);
  assert.equal(await relayed, status.CANCELLED);
  assert.equal(server.puts(), 0);

  // The stream still works afterwards.
  const ok = await put(c, {}, (s) => {
    s.write({ key: 'a' });
    s.end();
  });
  assert.deepEqual(ok.reply, { 'x-cache-shard': '434' });
});

test('shardInterceptor with keyOf: a call whose deadline has passed when it is made ends, though its first message comes later', { timeout: 20_000 }, async (t) => {
  // grpc-js ends such a call at once (process.nextTick), before the interceptor's own deadline
  // timer: a first message written in between (setImmediate, any I/O callback) started the inner
  // call after it had ended, so no status ever reached the caller and the call hung.
  const server = await startEchoServer(t);
  const c = client(t, server.port, { shardCount: 1024, keyOf: ({ message }) => (message as Req | undefined)?.key });
  await new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())));
  for (let i = 0; i < 5; i++) {
    for (const deadline of [Date.now() - 1, Date.now(), new Date(Date.now() - 1000)]) {
      const late = await put(c, { deadline }, (s) => {
        s.on('error', () => undefined);
        setImmediate(() => {
          s.write({ key: 'a' });
          s.end();
        });
      });
      assert.equal(late.code, status.DEADLINE_EXCEEDED, `deadline ${String(deadline)}`);
    }
  }
  assert.equal(server.puts(), 0);
  // The stream still works afterwards.
  const ok = await put(c, {}, (s) => {
    s.write({ key: 'a' });
    s.end();
  });
  assert.deepEqual(ok.reply, { 'x-cache-shard': '434' });
});

test('shardInterceptor with keyOf: a keyOf that throws or answers a non-string ends the call with INTERNAL naming it, not a throw out of the call', { timeout: 10_000 }, async (t) => {
  const server = await startEchoServer(t);
  const c = client(t, server.port, {
    shardCount: 1024,
    keyOf: ({ message }) => {
      const key = (message as { key: unknown } | undefined)?.key;
      if (key === 'boom') throw new Error('no key in this message');
      return key as string;
    },
  });
  const call = (key: unknown): Promise<ServiceError | null> => new Promise((resolve) => c.Get({ key } as Req, new Metadata(), (err) => resolve(err as ServiceError | null)));
  const thrown = await call('boom');
  assert.equal(thrown?.code, status.INTERNAL);
  assert.equal(thrown?.details, 'shardInterceptor: no shard for /test.Echo/Get: no key in this message');
  const numeric = await call(42);
  assert.equal(numeric?.details, 'shardInterceptor: no shard for /test.Echo/Get: keyOf must answer a string, bytes (a Uint8Array) or undefined, got number');
  // A stream: write() does not throw; the call ends with the status, and nothing reached the server.
  const streamed = await put(c, {}, (s) => {
    s.on('error', () => undefined);
    s.write({ key: 'boom' });
    s.end();
  });
  assert.equal(streamed.code, status.INTERNAL);
  assert.equal(server.puts(), 0);
  assert.equal(await call('fine'), null, 'later calls go on');
});

test('shardInterceptor with keyOf: a key answered as bytes is hashed as those bytes', async (t) => {
  const port = await startEcho(t);
  const c = client(t, port, { shardCount: 16384, keyOf: ({ message }) => Buffer.from((message as Req).key, 'latin1') });
  // 'café' in Latin-1: not UTF-8, so hashed as the bytes, as the shard pickers hash an -bin key.
  for (const key of ['{user:42}:cart', '{caf\xe9}:1', '']) {
    const bytes = Buffer.from(key, 'latin1');
    assert.deepEqual(await get(c, key), { 'x-cache-shard': String(shardFor(bytes, 16384)) }, JSON.stringify(key));
  }
  assert.equal(shardFor(Buffer.from('{user:42}:cart'), 16384), shardFor('{user:42}:cart', 16384));
});

test('shardInterceptor with an async keyOf: each call ends INTERNAL saying keyOf must answer synchronously, and its rejection is not left unhandled', { timeout: 10_000 }, async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const server = await startEchoServer(t);
  const c = client(t, server.port, {
    shardCount: 1024,
    // What a hurried developer writes: async, and it throws for a message without a key.
    keyOf: (async ({ message }: { message: unknown }) => (message as { key: string }).key.toLowerCase()) as unknown as ShardInterceptorOptions['keyOf'],
  });
  const call = (key: unknown): Promise<ServiceError | null> => new Promise((resolve) => c.Get({ key } as Req, new Metadata(), (err) => resolve(err as ServiceError | null)));
  for (const key of ['User:1', undefined]) {
    const err = await call(key);
    assert.equal(err?.code, status.INTERNAL);
    assert.equal(err?.details, 'shardInterceptor: no shard for /test.Echo/Get: keyOf must answer synchronously (a string, bytes or undefined), got a Promise: is it an async function?');
  }
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(unhandled.map(String), []);
});

test('shardInterceptor: a shard count given as a string is refused saying so', () => {
  assert.throws(() => shardInterceptor({ shardCount: '1024' as unknown as number }), { code: 'BAD_ARGUMENT', message: /got the string "1024"/ });
});
