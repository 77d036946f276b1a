/**
 * A request body sent to no route (src/admin/error-body.ts): every keyway route is a GET that takes
 * none, so such a body is read and counted against the body limit but never parsed. Parsed, a 1 MiB
 * JSON body of nested arrays held the event loop 100 to 170 ms, on paths open without the token
 * (`/healthz`, any unknown path), so a client posting them in a loop stalled xDS pushes and probes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { MAX_REST_BODY_BYTES } from '../../src/admin/request-limits.js';
import { ServingState } from '../../src/app/serving-state.js';

const NESTED = '['.repeat(500_000) + ']'.repeat(500_000);

/** An app with the token set and one route that does take a body, as an embedding program may add. */
async function app(t: TestContext): Promise<FastifyInstance> {
  const echo = async (a: FastifyInstance): Promise<void> => {
    a.post('/test/echo', async (request) => request.body);
  };
  const built = await buildAdminApp(new ServingState(), { token: 'tok', routes: [echo] });
  t.after(() => built.close());
  return built;
}

/** Lengths of the texts JSON.parse is given while `fn` runs. */
async function parsedDuring(fn: () => Promise<void>): Promise<number[]> {
  const lengths: number[] = [];
  const parse = JSON.parse;
  JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    lengths.push(String(text).length);
    return parse(text, reviver);
  }) as typeof JSON.parse;
  try {
    await fn();
  } finally {
    JSON.parse = parse;
  }
  return lengths;
}

test('a JSON body sent to no route answers 404 without being parsed; a route that takes a body still gets it', async (t) => {
  const a = await app(t);
  const parsed = await parsedDuring(async () => {
    for (const url of ['/nothing', '/healthz', '/', '/readyz?x=1']) {
      const res = await a.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: NESTED });
      assert.equal(res.statusCode, 404, `POST ${url}: ${res.body}`);
      assert.deepEqual(res.json(), { error: { code: 'NOT_FOUND', message: `no route POST ${url.split('?')[0]}` } });
    }
  });
  assert.deepEqual(parsed.filter((n) => n >= NESTED.length), [], 'a body sent to no route was parsed');

  const echoed = await parsedDuring(async () => {
    const res = await a.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: '{"a":[1]}' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { a: [1] });
  });
  assert.ok(echoed.includes('{"a":[1]}'.length), 'the route that takes a body got it parsed');
});

/** Sends `bytes` on a new connection and resolves with what came back once it closed. */
function send(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
    socket.on('data', (d: Buffer) => void (received += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(received));
  });
}

test('the body limit still holds for a body sent to no route, chunked or not; the server keeps serving', async (t) => {
  const a = await app(t);
  await a.listen({ port: 0, host: '127.0.0.1' });
  const port = (a.server.address() as AddressInfo).port;
  const chunk = 'x'.repeat(64 * 1024);
  const chunks = Math.ceil((MAX_REST_BODY_BYTES + 1) / chunk.length) + 1;
  const chunked = `POST /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${`${chunk.length.toString(16)}\r\n${chunk}\r\n`.repeat(chunks)}0\r\n\r\n`;
  const big = await send(port, chunked);
  assert.match(big, /^HTTP\/1\.1 413 /);
  assert.match(big, /connection: close/i);
  assert.match(big, /"code":"LIMIT_EXCEEDED"/);
  const declared = await send(port, `POST /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${MAX_REST_BODY_BYTES + 1}\r\n\r\n`);
  assert.match(declared, /^HTTP\/1\.1 413 /);
  const small = await send(port, 'POST /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"a":');
  assert.match(small, /^HTTP\/1\.1 404 /);
  assert.match(await send(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
});
