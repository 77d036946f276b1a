// ShardMapClient's callbacks throwing values that do not describe themselves (docs/clients.md:
// what onUpdate or onError throws is not a failure of keyway, polling goes on). A value String()
// cannot convert (an object without a prototype) threw again out of the warning that reports it:
// out of a failed poll's timer or an async callback's catch, an unhandled rejection that ended the
// application's process, and polling stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardMapClient } from '../../src/client/index.js';
import { eventually } from '../support/eventually.js';
import { listenForTest } from '../support/loopback-server.js';

test('ShardMapClient: callbacks that throw values without a string form are warned of once, and polling goes on', { timeout: 20_000 }, async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void (w.name === 'KeywayWarning' && warnings.push(w.message));
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));

  let version = 'v1';
  let proxyDown = false;
  const server = createServer((req, res) => {
    // A proxy in front of keyway while it restarts: an HTML page, so /readyz itself fails.
    if (proxyDown) return void res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
    if (req.url === '/readyz') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: true, status: 'ready', version }));
    const body = { version, shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  const baseUrl = await listenForTest(t, server);
  let updates = 0;
  let errors = 0;
  const client = await ShardMapClient.connect({
    baseUrl,
    pollIntervalMs: 20,
    maxBackoffMs: 20,
    onUpdate: async () => {
      updates++;
      throw Object.create(null) as object;
    },
    onError: () => {
      errors++;
      throw Object.create(null) as object;
    },
  });
  t.after(() => client.close());

  version = 'v2';
  await eventually('a polled update', () => client.version === 'v2');
  version = 'v3';
  await eventually('a second polled update', () => client.version === 'v3');
  proxyDown = true;
  await eventually('three failed polls: polling goes on after the throw', () => errors >= 3);
  proxyDown = false;
  version = 'v4';
  await eventually('back to keyway: the next map', () => client.version === 'v4');
  client.close();
  await sleep(20);
  assert.deepEqual(unhandled.map((r) => Object.prototype.toString.call(r)), []);
  assert.ok(updates >= 3);
  assert.equal(warnings.filter((m) => /onUpdate threw .*a value that does not convert to a string/.test(m)).length, 1, warnings.join('\n'));
  assert.equal(warnings.filter((m) => /onError threw .*a value that does not convert to a string/.test(m)).length, 1, warnings.join('\n'));
});
