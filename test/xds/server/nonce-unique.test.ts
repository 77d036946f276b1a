/**
 * A nonce names one response on a stream (docs/xds-protocol.md "Nonces"): a stream that is sent the
 * same set again after another response (a subscription going X, Y, X on one snapshot) must get a
 * new nonce, not the shared response's older one it already answered. The test client fails on a
 * nonce it has seen on the stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002] } };
const AT_ONCE = { holdOffMs: 0, maxDelayMs: 0 };

test('SotW: a subscription that goes back to a set sent before gets a new nonce', async (t) => {
  const h = await startHarness(V1, { holdOff: AT_ONCE });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-n1' } });
  client.request('cluster', ['c0']);
  const a = await client.expect('cluster');
  client.request('cluster', ['c0', 'c1']);
  const b = await client.expect('cluster');
  client.request('cluster', ['c0']);
  const c = await client.expect('cluster');
  assert.deepEqual(c.resources.map((r) => r.name), ['c0']);
  assert.equal(new Set([a.nonce, b.nonce, c.nonce]).size, 3);
});

test('delta: resubscribing a name after another response gets a new nonce; an old in-flight request does not ACK it', async (t) => {
  const acked: string[] = [];
  const h = await startHarness(V1, { holdOff: AT_ONCE, events: { acked: (e) => acked.push(e.version) } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-n2' }, protocol: 'delta' });
  client.delta('endpoint', { subscribe: ['c0'] });
  const a = await client.expect('endpoint');
  client.delta('endpoint', { nonce: a.nonce, subscribe: ['c1'] });
  const b = await client.expect('endpoint');
  // Sent before the client read b: they carry a's nonce.
  client.delta('endpoint', { nonce: a.nonce, unsubscribe: ['c0'] });
  client.delta('endpoint', { nonce: a.nonce, subscribe: ['c0'] });
  const c = await client.expect('endpoint');
  assert.deepEqual(c.resources.map((r) => r.name), ['c0']);
  assert.notEqual(c.nonce, a.nonce, 'the resent set carries a new nonce');
  assert.notEqual(c.nonce, b.nonce);
  // Another request the client sent before it read c still carries a's nonce: it answers nothing sent now.
  client.delta('endpoint', { nonce: a.nonce, subscribe: ['no-such'] });
  assert.deepEqual((await client.expect('endpoint')).removed, ['no-such']);
  await eventually('requests handled', () => h.server.proxy('envoy-n2')?.types.endpoint!.subscribed.count === 3);
  assert.equal(acked.length, 1, 'only the first response was ACKed (by the request that subscribed c1)');
});
