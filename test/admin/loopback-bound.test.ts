/**
 * DNS rebinding (src/admin/loopback-host.ts, docs/security.md "The admin API"): the Host check is on
 * while the REST API listens on a loopback address, whatever name it was told to bind. `keyway serve`
 * decided from the text of `--admin-host`, so a name (the machine's own, which /etc/hosts often maps
 * to 127.0.1.1) or an IPv4 shorthand (`127.1`) bound loopback with the check off: a page whose name
 * resolved to 127.0.0.1 read the shard map from the operator's browser.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildAdminApp, type AdminAppOptions } from '../../src/admin/app.js';
import { ServingState } from '../../src/app/serving-state.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';

function state(): ServingState {
  const s = new ServingState();
  const policy = { shardCount: 8, replicas: 1, spread: 'none' } as const;
  const map = computeShardMap([{ id: 'a', address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }], policy);
  s.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  return s;
}

/** The admin app built with `opts`, listening on `bind`; its port. */
async function listening(t: TestContext, bind: string, opts: AdminAppOptions): Promise<number> {
  const app = await buildAdminApp(state(), opts);
  t.after(() => app.close());
  await app.listen({ host: bind, port: 0 });
  return (app.server.address() as AddressInfo).port;
}

/** The status of GET `path` sent to 127.0.0.1:`port` naming `host`. */
function status(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

test('bound to loopback by a name that is not one of its spellings (127.1), a foreign Host is refused 403', async (t) => {
  // What `keyway serve --admin-host 127.1` passes: isLoopbackHost('127.1') is false.
  const port = await listening(t, '127.1', { loopbackOnly: false });
  assert.equal(await status(port, '/v1/shardmap', `rebind.attacker.example:${port}`), 403);
  assert.equal(await status(port, '/', 'rebind.attacker.example'), 403, 'the web view too');
  assert.equal(await status(port, '/v1/shardmap', `127.0.0.1:${port}`), 200);
  assert.equal(await status(port, '/v1/shardmap', `localhost:${port}`), 200);
});

test('an embedding program that listens on loopback without loopbackOnly gets the check too', async (t) => {
  const port = await listening(t, '127.0.0.1', {});
  assert.equal(await status(port, '/v1/shardmap', 'rebind.attacker.example'), 403);
  assert.equal(await status(port, '/healthz', `127.0.0.1:${port}`), 200);
});

test('bound to every interface, any Host is served as before', async (t) => {
  const port = await listening(t, '0.0.0.0', { loopbackOnly: false });
  assert.equal(await status(port, '/v1/shardmap', `keyway.keyway-system.svc:${port}`), 200);
});
