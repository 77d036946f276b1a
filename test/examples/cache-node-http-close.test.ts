/**
 * The example node's close() lets an HTTP request under way finish (docs/observability.md "The
 * example cache node"): a draining node's store read in flight answered, not a dropped connection
 * (a 503 behind Envoy); one that outlasts the grace is ended, and close() still resolves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';

/** One GET on its own connection: its status, or the error that ended it. */
function get(url: string): { done: Promise<number | string> } {
  const done = new Promise<number | string>((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', (err) => resolve(err.message));
    });
    req.on('error', (err) => resolve(err.message));
  });
  return { done };
}

/** A store whose reads wait until `answer()`; `reading` resolves once a read began. */
function heldStore(): { read: (key: string) => Promise<string>; reading: Promise<void>; answer: () => void } {
  let began!: () => void;
  const reading = new Promise<void>((resolve) => (began = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return { read: async (key) => (began(), await released, `value of ${key}`), reading, answer: () => release() };
}

test('close() answers an HTTP request whose store read is under way', async () => {
  const store = heldStore();
  const node = await startCacheNodeServer({ id: 'h0', storeRead: store.read });
  const req = get(`${node.url}/kv/cold-key`);
  await store.reading;
  const closed = node.close();
  store.answer();
  await closed;
  assert.equal(await req.done, 200);
});

test('close() ends an HTTP request that outlasts the grace, and resolves', async () => {
  const store = heldStore();
  const node = await startCacheNodeServer({ id: 'h1', storeRead: store.read, storeTimeoutMs: 600_000 });
  const req = get(`${node.url}/kv/slow-key`);
  await store.reading;
  await node.close();
  assert.match(String(await req.done), /socket hang up|ECONNRESET/);
  store.answer();
});

test('close() ends a keep-alive connection with the answer under way, not at the end of the grace', async () => {
  const store = heldStore();
  const node = await startCacheNodeServer({ id: 'h2', storeRead: store.read });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<unknown>();
  const one = (path: string): Promise<{ status: number; connection: string | undefined } | string> =>
    new Promise((resolve) => {
      const req = http.get(`${node.url}${path}`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      });
      req.on('socket', (s) => sockets.add(s));
      req.on('error', (err) => resolve(err.message));
    });
  const first = one('/kv/held-key');
  await store.reading;
  const closed = node.close();
  store.answer();
  // Node 20 answered `keep-alive` here, served the client's next request on that connection, and
  // held close() for the whole grace; the answer now closes the connection.
  assert.deepEqual(await first, { status: 200, connection: 'close' });
  await closed;
  const second = await one('/kv/held-key');
  assert.equal(typeof second, 'string', `a request after close() was served: ${JSON.stringify(second)}`);
  assert.match(second as string, /ECONNREFUSED/);
  assert.equal(sockets.size, 2, 'the second request reused the first connection');
  agent.destroy();
});
