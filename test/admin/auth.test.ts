/**
 * The admin bearer token (src/admin/auth.ts): which paths it guards, the 401 body, and that the
 * comparison accepts exactly the token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import { isGuarded } from '../../src/admin/auth.js';
import { ServingState } from '../../src/app/serving-state.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';

const TOKEN = 's3cret-token';

function state(): ServingState {
  const s = new ServingState();
  const policy = { shardCount: 8, replicas: 1, spread: 'none' } as const;
  const map = computeShardMap([{ id: 'a', address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }], policy);
  s.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  s.setSourceStatus(() => [{ kind: 'file', healthy: true, stale: false, lastUpdate: new Date(0) }]);
  return s;
}

test('the token guards /v1 and /debug only', () => {
  for (const p of ['/v1/shardmap', '/v1/lookup?key=a', '/v1', '/v1?x', '/debug/config_dump?proxy=x', '/debug', '/v1/']) assert.equal(isGuarded(p), true, p);
  for (const p of ['/healthz', '/readyz', '/metrics', '/', '/web/app.js', '/openapi.json', '/v10', '/debugger', '/x/v1/shardmap']) assert.equal(isGuarded(p), false, p);
});

test('without or with a wrong token /v1 answers 401 UNAUTHENTICATED; with it 200; probes stay open', async (t) => {
  const app = await buildAdminApp(state(), { token: TOKEN });
  t.after(() => app.close());
  for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN.slice(0, -1)}`]) {
    const res = await app.inject({ url: '/v1/shardmap', headers: authorization === undefined ? {} : { authorization } });
    assert.equal(res.statusCode, 401, String(authorization));
    assert.equal(res.json().error.code, 'UNAUTHENTICATED');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="keyway"');
  }
  assert.equal((await app.inject({ url: '/v1/nothing' })).statusCode, 401, 'an unknown /v1 route does not reveal itself');
  // Spellings the router resolves to a guarded route, or that do not route at all: never a 200.
  for (const url of ['/%761/shardmap', '/v1/shard%6Dap', '/%64ebug/config_dump?proxy=a', '/v1/./shardmap', '/x/../v1/shardmap', '/v1/shardmap;x', '/%2Fv1/shardmap', '//v1/shardmap', '/v1%2Fshardmap', '/%ZZ/v1']) {
    const status = (await app.inject({ url })).statusCode;
    assert.ok([400, 401, 404].includes(status), `${url}: ${status}`);
  }
  assert.equal((await app.inject({ url: '/%761/shardmap' })).statusCode, 401);
  for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `Bearer  ${TOKEN} `]) {
    assert.equal((await app.inject({ url: '/v1/shardmap', headers: { authorization } })).statusCode, 200, authorization);
  }
  for (const url of ['/healthz', '/readyz', '/', '/openapi.json']) assert.equal((await app.inject(url)).statusCode, 200, url);
});

test('without a token every route is open, as before', async (t) => {
  const app = await buildAdminApp(state());
  t.after(() => app.close());
  assert.equal((await app.inject('/v1/shardmap')).statusCode, 200);
});

test('an empty token is refused at build time', async () => {
  await assert.rejects(buildAdminApp(state(), { token: '' }), /empty/);
});
