// ShardMapClient with `async` callbacks (docs/clients.md): an onUpdate or onError that returns a
// rejected promise is the application's bug, reported once as a warning as a throwing one is; left
// as an unhandled rejection it ended the application's process at every map change or failed poll.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardMapClient } from '../../src/client/index.js';
import { eventually } from '../support/eventually.js';
import { oneShardKeyway } from './one-shard-keyway.js';
import { keywayWarnings, unhandledRejections } from './process-warnings.js';

test('ShardMapClient: an async onUpdate or onError that rejects is warned of once, with no unhandled rejection', { timeout: 20_000 }, async (t) => {
  const unhandled = unhandledRejections(t);
  const warned = keywayWarnings(t);
  const messages = (): string[] => warned.map((w) => w.message);

  const { baseUrl, state } = await oneShardKeyway(t);
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

  state.version = 'v2';
  assert.equal(await client.refresh(), true, 'the update stands');
  state.version = 'v3';
  await eventually('a polled update', () => client.version === 'v3');
  state.failure = 'keyway-500';
  await eventually('two failed polls', () => errors >= 2);
  client.close();
  await sleep(20);
  assert.deepEqual(unhandled.map(String), []);
  assert.ok(updates >= 2);
  assert.equal(messages().filter((m) => /onUpdate threw .*async onUpdate bug/.test(m)).length, 1, messages().join('\n'));
  assert.equal(messages().filter((m) => /onError threw .*async onError bug/.test(m)).length, 1, messages().join('\n'));
});
