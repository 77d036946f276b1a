// DNS rebinding against the admin API (docs/security.md "The admin API"): keyway listening on
// loopback with no token answered any Host, so a web page whose name an attacker made resolve to
// 127.0.0.1 could read the shard map and every proxy's configuration from the operator's browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, type RunningServer } from '../../src/app/index.js';
import { isLoopbackHost } from '../../src/admin/loopback-host.js';
import { tempTopology, topologyText } from '../serve/support.js';

/** GET `path` on 127.0.0.1:`port` with the Host header `host`: status and body. */
function get(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function serve(t: { after(fn: () => Promise<void>): void }, adminHost: string): Promise<RunningServer> {
  const topo = await tempTopology(topologyText());
  const server = await startServer({ configFile: topo.file, httpPort: 0, xdsPort: 0, host: '127.0.0.1', adminHost });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  return server;
}

test('on loopback, a request naming another host is refused 403; loopback names are served', async (t) => {
  const { httpPort: port } = await serve(t, '127.0.0.1');
  const refused = await get(port, '/v1/shardmap', `rebind.attacker.example:${port}`);
  assert.equal(refused.status, 403);
  assert.deepEqual(JSON.parse(refused.body).error.code, 'BAD_ARGUMENT');
  assert.match(JSON.parse(refused.body).error.message, /^Host "rebind\.attacker\.example:\d+" is not a loopback name/);
  assert.equal((await get(port, '/', 'evil.example')).status, 403, 'the web view too');
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, `127.9.9.9:${port}`, 'app.localhost']) {
    assert.equal((await get(port, '/v1/shardmap', host)).status, 200, host);
  }
});

test('bound to every interface (in a pod, behind a token if the API is exposed), any Host is served as before', async (t) => {
  const { httpPort: port } = await serve(t, '0.0.0.0');
  assert.equal((await get(port, '/v1/shardmap', `keyway.keyway-system.svc:${port}`)).status, 200);
});

test('isLoopbackHost: 127.0.0.0/8, ::1 in its spellings, localhost and its subdomains; nothing else', () => {
  for (const h of ['127.0.0.1', '127.255.0.9', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LocalHost', 'a.b.localhost']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'localhost.example', 'notlocalhost', '127.0.0.1.nip.io', '::2', '']) assert.ok(!isLoopbackHost(h), h);
});

test('the spellings browsers and curl send for loopback are served: a trailing dot, [::ffff:7f00:1], uncompressed ::1; text after "]" is refused', async (t) => {
  const { httpPort: port } = await serve(t, '127.0.0.1');
  for (const host of [`localhost.:${port}`, 'LOCALHOST.', `app.localhost.:${port}`, `[::ffff:7f00:1]:${port}`, `[0:0::1]:${port}`, '[::1]:']) {
    assert.equal((await get(port, '/v1/shardmap', host)).status, 200, host);
  }
  for (const host of ['[::1]evil.example', '[::1].evil.example:80', 'localhost..', '[::1%25lo]']) {
    assert.equal((await get(port, '/v1/shardmap', host)).status, 403, host);
  }
});
