// ShardMapClient's callbacks throwing values that do not describe themselves (docs/clients.md:
// what onUpdate or onError throws is not a failure of keyway, polling goes on). A value String()
// cannot convert (an object without a prototype) threw again out of the warning that reports it:
// out of a failed poll's timer or an async callback's catch, an unhandled rejection that ended the
// application's process, and polling stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardMapClient } from '../../src/client/index.js';
import { eventually } from '../support/eventually.js';
import { oneShardKeyway } from './one-shard-keyway.js';
import { keywayWarnings, unhandledRejections } from './process-warnings.js';

test('ShardMapClient: callbacks that throw values without a string form are warned of once, and polling goes on', { timeout: 20_000 }, async (t) => {
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
      throw Object.create(null) as object;
    },
    onError: () => {
      errors++;
      throw Object.create(null) as object;
    },
  });
  t.after(() => client.close());

  state.version = 'v2';
  await eventually('a polled update', () => client.version === 'v2');
  state.version = 'v3';
  await eventually('a second polled update', () => client.version === 'v3');
  state.failure = 'proxy-502';
  await eventually('three failed polls: polling goes on after the throw', () => errors >= 3);
  state.failure = 'none';
  state.version = 'v4';
  await eventually('back to keyway: the next map', () => client.version === 'v4');
  client.close();
  await sleep(20);
  assert.deepEqual(unhandled.map((r) => Object.prototype.toString.call(r)), []);
  assert.ok(updates >= 3);
  assert.equal(messages().filter((m) => /onUpdate threw .*a value that does not convert to a string/.test(m)).length, 1, messages().join('\n'));
  assert.equal(messages().filter((m) => /onError threw .*a value that does not convert to a string/.test(m)).length, 1, messages().join('\n'));
});
