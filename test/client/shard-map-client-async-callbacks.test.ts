// ShardMapClient with `async` callbacks (docs/clients.md): an onUpdate or onError that returns a
// rejected promise is the application's bug, reported once as a warning as a throwing one is; left
// as an unhandled rejection it ended the application's process at every map change or failed poll.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardMapClient } from '../../src/client/index.js';
import { eventually } from '../support/eventually.js';
import { listenForTest } from '../support/loopback-server.js';

test('ShardMapClient: an async onUpdate or onError that rejects is warned of once, with no unhandled rejection', { timeout: 20_000 }, async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void (w.name === 'KeywayWarning' && warnings.push(w.message));
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));

  let version = 'v1';
  let up = true;
  const server = createServer((req, res) => {
    if (!up) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{}');
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
      throw new Error('async onUpdate bug');
    },
    onError: async () => {
      errors++;
      throw new Error('async onError bug');
    },
  });
  t.after(() => client.close());

  version = 'v2';
  assert.equal(await client.refresh(), true, 'the update stands');
  version = 'v3';
  await eventually('a polled update', () => client.version === 'v3');
  up = false;
  await eventually('two failed polls', () => errors >= 2);
  client.close();
  await sleep(20);
  assert.deepEqual(unhandled.map(String), []);
  assert.ok(updates >= 2);
  assert.equal(warnings.filter((m) => /onUpdate threw .*async onUpdate bug/.test(m)).length, 1, warnings.join('\n'));
  assert.equal(warnings.filter((m) => /onError threw .*async onError bug/.test(m)).length, 1, warnings.join('\n'));
});
