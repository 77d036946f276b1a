/**
 * The delta legacy wildcard as the xDS protocol's incremental example has it ("How the client
 * specifies what resources to return"): an empty first request is a subscription to "*"; a later
 * subscribe to "A" keeps "*" and adds "A"; unsubscribing "*" ends the wildcard and keeps "A";
 * unsubscribing "A" then leaves nothing, not a wildcard again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002] } };
const AT_ONCE = { holdOffMs: 0, maxDelayMs: 0 };

test('delta: an explicit subscribe after a legacy wildcard keeps the wildcard; only unsubscribing "*" ends it', async (t) => {
  const h = await startHarness(V1, { holdOff: AT_ONCE });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-w' }, protocol: 'delta' });
  const subscribed = () => h.server.proxy('envoy-w')?.types.cluster?.subscribed;

  client.delta('cluster');
  const first = await client.expect('cluster');
  assert.deepEqual(first.resources.map((r) => r.name).sort(), ['c0', 'c1']);
  client.delta('cluster', { nonce: first.nonce });

  client.delta('cluster', { subscribe: ['c0'] });
  const again = await client.expect('cluster');
  assert.deepEqual(again.resources.map((r) => r.name), ['c0'], 'a name subscribed is answered');
  client.delta('cluster', { nonce: again.nonce });
  assert.deepEqual(subscribed(), { wildcard: true, names: ['c0'], count: 1 });

  client.delta('cluster', { unsubscribe: ['*'] });
  await eventually('wildcard ended', () => subscribed()?.wildcard === false);
  assert.deepEqual(subscribed(), { wildcard: false, names: ['c0'], count: 1 });
  assert.deepEqual(h.server.sentResources('envoy-w')!.cluster.map((r) => r.name), ['c0'], 'c1 is no longer the proxy\'s');

  client.delta('cluster', { unsubscribe: ['c0'] });
  await eventually('nothing subscribed', () => subscribed()?.count === 0);
  assert.deepEqual(subscribed(), { wildcard: false, names: [], count: 0 });
});

test('delta: a name unsubscribed while "*" stays subscribed is answered: sent again if the wildcard holds it, else removed', async (t) => {
  // xDS protocol, "Unsubscribing from Resources": the client cannot tell whether the wildcard
  // covers the name (Envoy keeps it as "ambiguous"), so the server must say.
  const h = await startHarness(V1, { holdOff: AT_ONCE });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-wu' }, protocol: 'delta' });
  client.delta('cluster', { subscribe: ['*', 'c0', 'no-such-cluster'] });
  const first = await client.expect('cluster');
  assert.deepEqual(first.resources.map((r) => r.name).sort(), ['c0', 'c1']);
  assert.deepEqual(first.removed, ['no-such-cluster']);
  client.delta('cluster', { nonce: first.nonce });

  client.delta('cluster', { unsubscribe: ['c0'] });
  const kept = await client.expect('cluster', 2000);
  assert.deepEqual(kept.resources.map((r) => r.name), ['c0'], 'c0 is still the wildcard\'s: sent again');
  assert.deepEqual(kept.removed, []);
  client.delta('cluster', { nonce: kept.nonce });

  // Never sent (the proxy was told it does not exist): nothing is ambiguous, nothing to answer.
  client.delta('cluster', { unsubscribe: ['no-such-cluster'] });
  await eventually('subscription is the wildcard alone', () => {
    const s = h.server.proxy('envoy-wu')?.types.cluster?.subscribed;
    return s?.wildcard === true && s.count === 0;
  });
  assert.deepEqual(h.server.sentResources('envoy-wu')!.cluster.map((r) => r.name), ['c0', 'c1']);
  assert.equal(client.pending, 0, 'no answer for a name never sent');
});
