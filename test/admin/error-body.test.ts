/**
 * The REST error body contract (docs/api.md "Errors"): every error status, including those Node's
 * HTTP parser and fastify's router answer before any route runs, is `{error: {code, message,
 * parameter?}}` with a code that fits the status. Checked on a real listener with raw requests,
 * since 431 and malformed requests never reach `inject()`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp, type AdminAppOptions } from '../../src/admin/index.js';
import { MAX_REST_BODY_BYTES, MAX_REST_HEADER_BYTES, MAX_REST_PARAM_LENGTH, REST_REQUEST_TIMEOUT_MS } from '../../src/admin/request-limits.js';
import { ServingState } from '../../src/app/serving-state.js';
import { ERROR_CODES } from '../../src/core/errors.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';

interface RawAnswer {
  status: number;
  contentType: string;
  body: unknown;
  /** The head's `Connection` header, lower case ('' when absent). */
  connection?: string;
  /** Did the server close the connection (the client kept its side open)? */
  closedByServer?: boolean;
  /** Milliseconds from connecting to the connection's close. */
  ms?: number;
}

/**
 * Sends `request` as bytes on a new connection and parses the one answer. By default the client
 * half-closes after it; `keepOpen` leaves its side open, so only the server can close the
 * connection (`closedByServer`); `drip` sends one more byte every `drip` ms after `request`.
 */
function raw(port: number, request: string, opts: { keepOpen?: boolean; drip?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let closedByServer = false;
    const socket = connect(port, '127.0.0.1', () => (opts.keepOpen || opts.drip ? socket.write(request) : socket.end(request)));
    const drip = opts.drip ? setInterval(() => socket.writable && socket.write('a'), opts.drip) : undefined;
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('end', () => (closedByServer = true));
    socket.on('error', () => undefined); // the server may reset after answering a malformed request
    socket.on('close', (hadError) => {
      clearInterval(drip);
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (!status) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const contentType = /\r\ncontent-type: ([^\r]+)/i.exec(head)?.[1] ?? '';
      const connection = (/\r\nconnection: ([^\r]+)/i.exec(head)?.[1] ?? '').toLowerCase();
      let body: unknown = rest.join('\r\n\r\n');
      try {
        body = JSON.parse(body as string);
      } catch {
        // left as text: the assertion below shows it
      }
      resolve({ status, contentType, body, connection, closedByServer: closedByServer || hadError, ms: Date.now() - started });
    });
    // A connection the server keeps open is ended here: closedByServer stays false.
    setTimeout(() => socket.destroy(), opts.keepOpen ? 2_000 : 5_000).unref();
  });
}

const get = (path: string, headers = ''): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`;

/** Asserts the documented body with `code` (and a non-empty message). */
function assertErrorBody(r: RawAnswer, status: number, code: string, what: string): { message: string; parameter?: string } {
  assert.equal(r.status, status, `${what}: status; body ${JSON.stringify(r.body)}`);
  assert.match(r.contentType, /application\/json/, `${what}: content type`);
  const body = r.body as { error?: { code?: unknown; message?: unknown; parameter?: unknown } };
  assert.ok(body && typeof body === 'object' && body.error && typeof body.error === 'object', `${what}: {error: ...} body, got ${JSON.stringify(r.body)}`);
  assert.deepEqual(Object.keys(body).sort(), ['error'], `${what}: only "error" at the top`);
  for (const k of Object.keys(body.error)) assert.ok(['code', 'message', 'parameter'].includes(k), `${what}: unexpected field ${k}`);
  assert.ok((ERROR_CODES as readonly unknown[]).includes(body.error.code), `${what}: a documented code, got ${String(body.error.code)}`);
  assert.equal(body.error.code, code, `${what}: code`);
  assert.ok(typeof body.error.message === 'string' && body.error.message.length > 0, `${what}: message`);
  return body.error as { message: string; parameter?: string };
}

async function listening(t: { after(fn: () => unknown): void }, opts: AdminAppOptions = {}): Promise<{ app: FastifyInstance; port: number }> {
  const state = new ServingState();
  const policy = { shardCount: 8, replicas: 1, spread: 'none' as const };
  const map = computeShardMap([{ id: 'a', address: '10.0.0.1', port: 1, locality: { region: '', zone: '', subzone: '' }, weight: 1, ready: true }], policy);
  state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  const app = await buildAdminApp(state, {
    ...opts,
    routes: [
      // What an embedding program's routes may do: fail, or take a body.
      async (a) => {
        a.get('/test/fails', async () => {
          throw new Error('the reader failed');
        });
        a.post('/test/echo', async (request) => ({ size: JSON.stringify(request.body).length }));
        a.get('/test/denied', async () => {
          throw Object.assign(new Error('a bearer token is required'), { statusCode: 401 });
        });
      },
    ],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  return { app, port: (app.server.address() as { port: number }).port };
}

test('431: headers beyond the limit answer the documented body, LIMIT_EXCEEDED, from the HTTP parser', async (t) => {
  const { port } = await listening(t);
  const r = await raw(port, get('/healthz', `X-Padding: ${'a'.repeat(MAX_REST_HEADER_BYTES + 1024)}\r\n`));
  const e = assertErrorBody(r, 431, 'LIMIT_EXCEEDED', '431');
  assert.match(e.message, new RegExp(`${MAX_REST_HEADER_BYTES} bytes`));
  // Just inside the limit is served.
  assert.equal((await raw(port, get('/healthz', `X-Padding: ${'a'.repeat(MAX_REST_HEADER_BYTES - 512)}\r\n`))).status, 200);
});

test('malformed requests and odd URLs: 400 or 404 with the documented body', async (t) => {
  const { port } = await listening(t);
  assertErrorBody(await raw(port, 'HELLO\r\n\r\n'), 400, 'BAD_ARGUMENT', 'not HTTP');
  assertErrorBody(await raw(port, get('healthz')), 400, 'BAD_ARGUMENT', 'a path without its slash');
  assertErrorBody(await raw(port, get('/%zz')), 404, 'NOT_FOUND', 'bad percent-encoding, no route');
  assertErrorBody(await raw(port, get('/v1/shards/%zz')), 404, 'NOT_FOUND', 'bad percent-encoding in a parameter');
  assertErrorBody(await raw(port, get('/nope/../../etc/passwd')), 404, 'NOT_FOUND', 'unknown route');
  assertErrorBody(await raw(port, 'DELETE /v1/shardmap HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 404, 'NOT_FOUND', 'unknown method');
  const long = assertErrorBody(await raw(port, get(`/v1/shards/${'1'.repeat(MAX_REST_PARAM_LENGTH + 1)}`)), 414, 'LIMIT_EXCEEDED', 'parameter too long');
  assert.match(long.message, new RegExp(`${MAX_REST_PARAM_LENGTH} characters`));
  // A bad parameter keeps BAD_ARGUMENT and names the parameter.
  const bad = assertErrorBody(await raw(port, get('/v1/shards/x')), 400, 'BAD_ARGUMENT', 'bad parameter');
  assert.equal(bad.parameter, 'shard');
});

test('413 is LIMIT_EXCEEDED, 401 UNAUTHENTICATED and 500 INTERNAL, never BAD_ARGUMENT', async (t) => {
  const { app, port } = await listening(t);
  const big = JSON.stringify({ pad: 'a'.repeat(MAX_REST_BODY_BYTES) });
  const tooLarge = await app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: big });
  assertErrorBody({ status: tooLarge.statusCode, contentType: String(tooLarge.headers['content-type']), body: tooLarge.json() }, 413, 'LIMIT_EXCEEDED', '413');
  assert.match(tooLarge.json().error.message, new RegExp(`${MAX_REST_BODY_BYTES} bytes`));
  assertErrorBody(await raw(port, get('/test/denied')), 401, 'UNAUTHENTICATED', '401 from a route');
  const failed = await raw(port, get('/test/fails'));
  const e = assertErrorBody(failed, 500, 'INTERNAL', '500');
  assert.match(e.message, /the reader failed/);
  const badJson = await raw(port, 'POST /test/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"a":');
  assertErrorBody(badJson, 400, 'BAD_ARGUMENT', 'a body that is not JSON');
});

/** A request that leaves the connection open (no `Connection: close`). */
const keepAlive = (path: string, headers = ''): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`;

test('414 names the parameter at fault and closes the connection, like every limit', async (t) => {
  const { port } = await listening(t);
  const r = await raw(port, keepAlive(`/v1/shards/${'1'.repeat(MAX_REST_PARAM_LENGTH + 1)}`), { keepOpen: true });
  const e = assertErrorBody(r, 414, 'LIMIT_EXCEEDED', '414');
  assert.equal(e.parameter, 'shard');
  assert.match(e.message, new RegExp(`"shard" is longer than ${MAX_REST_PARAM_LENGTH} characters`));
  assert.equal(r.connection, 'close');
  assert.equal(r.closedByServer, true, 'the server closed the connection');
  // A parameter within the limit keeps the connection (keep-alive).
  const within = await raw(port, keepAlive(`/v1/shards/${'1'.repeat(MAX_REST_PARAM_LENGTH)}`), { keepOpen: true });
  assert.equal(within.status, 404);
  assert.equal(within.closedByServer, false);
});

test('with a token, a path the router refuses under /v1 or /debug answers 401 before its 404 or 414', async (t) => {
  const token = 'router-token';
  const { port } = await listening(t, { token });
  const long = `/v1/shards/${'1'.repeat(MAX_REST_PARAM_LENGTH + 1)}`;
  for (const path of [long, '/v1/%ZZ', '/%761/%ZZ', '/debug/%ZZ', '/v1/shards/%ZZ']) {
    const r = await raw(port, get(path));
    assertErrorBody(r, 401, 'UNAUTHENTICATED', path);
  }
  // With the token, the router's own answers; outside the guarded prefixes, no token is asked.
  const auth = `Authorization: Bearer ${token}\r\n`;
  assert.equal(assertErrorBody(await raw(port, get(long, auth)), 414, 'LIMIT_EXCEEDED', '414 with the token').parameter, 'shard');
  assertErrorBody(await raw(port, get('/v1/%ZZ', auth)), 404, 'NOT_FOUND', '/v1/%ZZ with the token');
  assertErrorBody(await raw(port, get('/%ZZ')), 404, 'NOT_FOUND', '/%ZZ, not guarded');
});

test('an HTTP/1.1 request without Host: 400 with the documented body, connection closed; HTTP/1.0 needs none', async (t) => {
  const { port } = await listening(t, { token: 'host-token' });
  for (const path of ['/healthz', '/v1/shardmap', '/v1/%ZZ']) {
    const r = await raw(port, `GET ${path} HTTP/1.1\r\n\r\n`, { keepOpen: true });
    const e = assertErrorBody(r, 400, 'BAD_ARGUMENT', `${path} without Host`);
    assert.match(e.message, /Host/);
    assert.equal(r.closedByServer, true, `${path}: the server closed the connection`);
  }
  assert.equal((await raw(port, 'GET /healthz HTTP/1.0\r\n\r\n')).status, 200);
  assert.equal((await raw(port, get('/healthz'))).status, 200);
});

test('408: a request not received in time is refused with the documented body and the connection closed', async (t) => {
  const timeoutMs = 400;
  const { port } = await listening(t, { requestTimeoutMs: timeoutMs });
  const slow = {
    'a body sent a byte at a time to an unknown route': 'POST /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n',
    'a body sent a byte at a time to a route that reads it': 'POST /test/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n',
    'headers that never end': 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ',
  };
  for (const [what, request] of Object.entries(slow)) {
    const r = await raw(port, request, { drip: 50 });
    const e = assertErrorBody(r, 408, 'LIMIT_EXCEEDED', what);
    assert.match(e.message, new RegExp(`within ${timeoutMs} ms`));
    assert.equal(r.connection, 'close');
    assert.ok(r.ms! >= timeoutMs && r.ms! < timeoutMs + 2_000, `${what}: answered after ${r.ms} ms`);
  }
  assert.equal((await raw(port, get('/healthz'))).status, 200, 'a request received in time is served');
});

test('the request timeout defaults to REST_REQUEST_TIMEOUT_MS, for the headers too, checked at least once a second', async (t) => {
  const { app } = await listening(t);
  assert.equal(app.server.requestTimeout, REST_REQUEST_TIMEOUT_MS);
  assert.equal(app.server.headersTimeout, REST_REQUEST_TIMEOUT_MS);
  assert.ok(REST_REQUEST_TIMEOUT_MS > 0);
  // Node's default of 30 s between checks would let a 408 come up to 30 s late.
  const checkMs = (app.server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval;
  assert.ok(checkMs > 0 && checkMs <= 1_000, `checked every ${checkMs} ms`);
});
