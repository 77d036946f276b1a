/**
 * Headers on every kind of admin answer, sent over a real socket: each carries
 * `X-Content-Type-Options: nosniff` (the bodies quote text others wrote: node ids, localities, NACK
 * messages, the request's key and path), whether a route, a guard, the router or Node's HTTP parser
 * wrote it; and the answers under /v1 and /debug are not stored by any cache (`no-store`), but
 * `/v1/shardmap`, which a client revalidates with its ETag (`no-cache`, docs/api.md).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { rawRequest, type RawAnswer } from './rest-fuzz-client.js';

const TOKEN = 'header-token';
let app: FastifyInstance;
let port: number;

before(async () => {
  const state = new ServingState();
  const policy = { shardCount: 8, replicas: 1, spread: 'none' } as const;
  const map = computeShardMap([{ id: 'a', address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: '<b>f</b>' }, weight: 1, ready: true }], policy);
  state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  const proxies = { proxies: () => [], proxy: () => undefined, configDump: () => ({ configs: [] }), nodeIds: () => new Set<string>() };
  const metrics = { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => 'up 1\n' };
  app = await buildAdminApp(state, { token: TOKEN, readers: [{ proxies, metrics }] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});
after(() => app?.close());

async function send(target: string, opts: { token?: boolean; headers?: string[]; method?: string; raw?: string } = {}): Promise<RawAnswer> {
  const lines = ['Host: 127.0.0.1', ...(opts.token ? [`Authorization: Bearer ${TOKEN}`] : []), ...(opts.headers ?? []), 'Connection: close'];
  const request = opts.raw ?? `${opts.method ?? 'GET'} ${target} HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
  const answer = await rawRequest(port, request, 5_000, opts.method === 'HEAD');
  assert.equal(answer.error, undefined, target);
  return answer;
}

test('every answer says nosniff: routes, 304, refusals by the token, the router and the HTTP parser', async () => {
  const etag = (await send('/v1/shardmap', { token: true })).headers.etag!;
  const cases: [string, Parameters<typeof send>[1], number][] = [
    ['/', {}, 200],
    ['/web/app.js', {}, 200],
    ['/healthz', {}, 200],
    ['/readyz', {}, 200],
    ['/metrics', {}, 200],
    ['/openapi.json', {}, 200],
    ['/v1/shardmap', { token: true }, 200],
    ['/v1/shardmap', { token: true, headers: [`If-None-Match: ${etag}`] }, 304],
    ['/v1/shardmap', { token: true, method: 'HEAD' }, 200],
    ['/v1/lookup?key=%3Cscript%3Ealert(1)%3C%2Fscript%3E', { token: true }, 200],
    ['/v1/shards/9', { token: true }, 404],
    ['/v1/shards/x', { token: true }, 400],
    ['/v1/lookup?key=caf%E9', { token: true }, 400],
    [`/v1/shards/${'1'.repeat(101)}`, { token: true }, 414],
    ['/v1/%ZZ', { token: true }, 404],
    ['/v1/shardmap', {}, 401],
    ['http://h/v1/%ZZ', {}, 401],
    ['/nothing<script>', {}, 404],
    ['*v1/shardmap', {}, 400],
    ['headers too large', { raw: `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n` }, 431],
    ['not HTTP', { raw: 'HELLO\r\n\r\n' }, 400],
  ];
  const missing: string[] = [];
  for (const [target, opts, status] of cases) {
    const res = await send(target, opts);
    assert.equal(res.status, status, `${target}: ${res.body.slice(0, 120)}`);
    if (res.headers['x-content-type-options'] !== 'nosniff') missing.push(`${target} (${res.status})`);
  }
  assert.deepEqual(missing, [], `answers without nosniff:\n${missing.join('\n')}`);
});

test('answers under /v1 and /debug are not stored by caches; /v1/shardmap is revalidated with its ETag', async () => {
  for (const [target, token] of [
    ['/v1/lookup?key=k', true],
    ['/v1/shards/1', true],
    ['/v1/changes', true],
    ['/v1/handoff?node=a', true],
    ['/v1/proxies', true],
    ['/debug/config_dump?proxy=p', true],
    ['/v1/shardmap', false],
    ['/v1/nothing', true],
    ['http://h/v1/%ZZ', false],
  ] as const) {
    const res = await send(target, { token });
    assert.equal(res.headers['cache-control'], 'no-store', `${target} ${res.status}`);
  }
  assert.equal((await send('/v1/shardmap', { token: true })).headers['cache-control'], 'no-cache');
  // The probes and the page keep their own rules.
  assert.equal((await send('/readyz')).headers['cache-control'], undefined);
  assert.equal((await send('/')).headers['cache-control'], 'no-cache');
});
