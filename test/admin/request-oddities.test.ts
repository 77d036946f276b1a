/**
 * Requests the REST fuzz test (rest-fuzz.test.ts) found answered outside docs/api.md, each sent
 * over a real socket as written: request targets the router reads otherwise than every check, a
 * body sent to no route, and a query parameter given twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { rawRequest, type RawAnswer } from './rest-fuzz-client.js';

const TOKEN = 'oddity-token';
let app: FastifyInstance;
let port: number;

before(async () => {
  const state = new ServingState();
  const policy = { shardCount: 8, replicas: 1, spread: 'none' } as const;
  const map = computeShardMap([{ id: 'a', address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }], policy);
  state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  const proxies = { proxies: () => [], proxy: () => undefined, configDump: () => undefined, nodeIds: () => new Set<string>() };
  app = await buildAdminApp(state, { token: TOKEN, readers: [{ proxies }] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});
after(() => app?.close());

async function send(method: string, target: string, opts: { token?: boolean; headers?: string[]; body?: string } = {}): Promise<RawAnswer & { json: { error: { code: string; message: string; parameter?: string } } }> {
  const lines = ['Host: 127.0.0.1', ...(opts.token ? [`Authorization: Bearer ${TOKEN}`] : []), ...(opts.headers ?? []), 'Connection: close'];
  const answer = await rawRequest(port, `${method} ${target} HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n${opts.body ?? ''}`, 5_000);
  assert.equal(answer.error, undefined, `${method} ${target}`);
  return { ...answer, json: JSON.parse(answer.body) };
}

test('a request target that is neither a path nor an absolute URL is refused 400 (the router read `*v1/shardmap` as /v1/shardmap)', async () => {
  for (const target of ['*v1/shardmap', '*', '*v1/nothing']) {
    const res = await send('GET', target, { token: true });
    assert.equal(res.status, 400, `${target}: ${res.body}`);
    assert.equal(res.json.error.code, 'BAD_ARGUMENT');
    assert.match(res.json.error.message, /request target .* is neither a path nor an absolute http\(s\) URL/);
  }
  // The asterisk-form of OPTIONS is valid HTTP (RFC 9112 §3.2.4): no route answers it.
  assert.equal((await send('OPTIONS', '*')).status, 404);
  assert.equal((await send('GET', 'http://h/v1/shardmap', { token: true })).status, 200, 'absolute-form is served');
});

test('without the token, absolute-form and fragment spellings of unknown /v1 and /debug paths answer 401, not 404 or 414', async () => {
  for (const target of ['http://h/v1/nothing', 'HTTPS://h:1/debug/nothing', 'http://h/v1/shardmap#x', 'http://h/v1/%ZZ', '/v1#x', `http://h/v1/shards/${'1'.repeat(101)}`]) {
    const res = await send('GET', target);
    assert.equal(res.status, 401, `${target}: ${res.body}`);
    assert.equal(res.json.error.code, 'UNAUTHENTICATED');
  }
  // Elsewhere the 404 stays.
  assert.equal((await send('GET', 'http://h/nothing')).status, 404);
});

test('a body sent to no route answers 404 NOT_FOUND, not 400 for malformed JSON or 415 for a malformed Content-Type', async () => {
  for (const [type, body] of [
    ['application/json', '{x'],
    [';;;', 'z'],
    ['application/json', ''],
  ] as const) {
    for (const target of ['/v1/shardmap', '/healthz', '/nothing']) {
      const res = await send('POST', target, { token: true, headers: [`Content-Type: ${type}`, `Content-Length: ${body.length}`], body });
      assert.equal(res.status, 404, `POST ${target} (${type}): ${res.body}`);
      assert.deepEqual(res.json, { error: { code: 'NOT_FOUND', message: `no route POST ${target}` } });
    }
  }
  // The body limit still holds, and still answers first.
  const big = await send('POST', '/nothing', { headers: ['Content-Type: application/json', 'Content-Length: 2000000'] });
  assert.equal(big.status, 413);
  assert.equal(big.json.error.code, 'LIMIT_EXCEEDED');
});

test('a query parameter given twice is named as such (it read "must not be empty" or "must be string")', async () => {
  for (const [target, parameter] of [
    ['/v1/proxies?proxy=a&proxy=b', 'proxy'],
    ['/v1/proxies?names=1&names=2', 'names'],
    ['/v1/lookup?key=a&key=b', 'key'],
    ['/v1/handoff?node=a&node=a', 'node'],
    ['/debug/config_dump?proxy=a&proxy=b&proxy=c', 'proxy'],
  ] as const) {
    const res = await send('GET', target, { token: true });
    assert.equal(res.status, 400, target);
    assert.equal(res.json.error.parameter, parameter, target);
    assert.match(res.json.error.message, new RegExp(`^query parameter "${parameter}" is given [23] times; give it once$`), target);
  }
  assert.equal((await send('GET', '/v1/proxies?proxy=', { token: true })).json.error.message, 'query parameter "proxy" must not be empty');
});
