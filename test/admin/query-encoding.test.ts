/**
 * A query parameter a route reads must be valid percent-encoding of UTF-8 (docs/api.md "Errors").
 * The query parser keeps a value it cannot decode as it was typed, escapes and all, so
 * `/v1/lookup?key=caf%E9` (Latin-1) or `?key=50%off%20now` answered 200 with the shard of another
 * key ("caf%E9", "50%off%20now" with its %20 left as is): a wrong answer, said with confidence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { computeShardMap, keyToShard } from '../../src/sharding/index.js';
import type { ProxyStatusReader } from '../../src/core/proxy.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';

function served(): ServingState {
  const policy = { shardCount: 64, replicas: 1, spread: 'none' as const };
  const endpoints = ['a', 'b'].map((id) => ({ id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }));
  const map = computeShardMap(endpoints, policy);
  const state = new ServingState();
  state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  return state;
}

const asked: string[] = [];
const reader: ProxyStatusReader = {
  proxies: () => [],
  proxy: (id) => (asked.push(id), undefined),
  configDump: (id) => (asked.push(id), undefined),
  nodeIds: () => new Set(),
};

test('a query value that is not valid percent-encoding is 400 naming the parameter, not read as typed', async (t) => {
  const app = await buildAdminApp(served(), { readers: [{ proxies: reader }] });
  t.after(() => app.close());
  const cases: [string, string][] = [
    ['/v1/lookup?key=caf%E9', 'key'],
    ['/v1/lookup?key=50%off%20now', 'key'],
    ['/v1/lookup?key=%ED%A0%80', 'key'], // a lone surrogate's bytes
    ['/v1/lookup?key=a%2', 'key'],
    ['/v1/lookup?k%65y=%FF', 'key'], // the name decodes to key
    ['/v1/handoff?node=a%FF', 'node'],
    ['/v1/proxies?proxy=%E2%82', 'proxy'],
    ['/debug/config_dump?proxy=envoy%', 'proxy'],
  ];
  for (const [url, parameter] of cases) {
    const res = await app.inject(url);
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    const { error } = res.json();
    assert.equal(error.code, 'BAD_ARGUMENT', url);
    assert.equal(error.parameter, parameter, url);
    assert.match(error.message, new RegExp(`query parameter "${parameter}" is not valid percent-encoding`), url);
    assert.match(error.message, /%25/, 'says how to write a "%"');
  }
  assert.deepEqual(asked, [], 'no proxy was looked up under an undecoded id');
});

test('well-formed encodings still decode, and parameters the route does not read are not judged', async (t) => {
  const state = served();
  const app = await buildAdminApp(state);
  t.after(() => app.close());
  const S = state.current()!.map.policy.shardCount;
  for (const [query, key] of [
    ['key=caf%C3%A9', 'café'],
    ['key=50%25off%20now', '50%off now'],
    ['key=a+b', 'a b'],
    ['key=', ''],
    ['key=%F0%9F%94%91', '🔑'],
    ['key=x&other=%FF', 'x'], // not a parameter of /v1/lookup: ignored as before
  ] as const) {
    const res = await app.inject(`/v1/lookup?${query}`);
    assert.equal(res.statusCode, 200, `${query}: ${res.body}`);
    assert.deepEqual([res.json().key, res.json().shard], [key, keyToShard(key, S)], query);
  }
  assert.equal((await app.inject('/v1/shardmap?x=%FF')).statusCode, 200);
});

test('without the token, a malformed query is still 401 first', async (t) => {
  const app = await buildAdminApp(served(), { token: 'sekret' });
  t.after(() => app.close());
  assert.equal((await app.inject('/v1/lookup?key=%FF')).statusCode, 401);
  const ok = await app.inject({ url: '/v1/lookup?key=%FF', headers: { authorization: 'Bearer sekret' } });
  assert.equal(ok.statusCode, 400);
});
