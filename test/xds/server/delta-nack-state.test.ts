// Delta: a repeated NACK (same nonce) is one NACK, and an ACK of later endpoints leaves the type
// NACKED while the proxy still holds the endpoints it rejected (it runs on its last good ones;
// /readyz keeps proxy_nack until they change) (src/xds/server/delta-session.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { XdsServerEvents } from '../../../src/xds/server/index.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002] } };

test('delta: a NACK repeated with the same nonce is one NACK', async (t) => {
  const nacks: string[] = [];
  const events: XdsServerEvents = { nacked: (e) => nacks.push(e.kind) };
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 }, events });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-delta-nack-twice' }, protocol: 'delta' });
  client.delta('endpoint', { subscribe: ['c0'] });
  const r1 = await client.expect('endpoint');
  client.delta('endpoint', { nonce: r1.nonce, error: 'rejected' });
  client.delta('endpoint', { nonce: r1.nonce, error: 'rejected' });
  // A request answered proves the two above were handled.
  client.delta('endpoint', { subscribe: ['absent'], nonce: r1.nonce });
  await client.expect('endpoint');
  assert.deepEqual(nacks, ['endpoint']);
});

test('delta: an ACK of other endpoints after a NACK leaves the type NACKED while the rejected ones are held', async (t) => {
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-delta-held-rejected' }, protocol: 'delta' });
  const row = () => h.server.proxy('envoy-delta-held-rejected')?.types.endpoint;
  client.delta('endpoint', { subscribe: ['c0', 'c1'] });
  client.delta('endpoint', { nonce: (await client.expect('endpoint')).nonce });

  h.set({ clusters: { ...V1.clusters, c0: [9100] } });
  const bad = await client.expect('endpoint');
  client.delta('endpoint', { nonce: bad.nonce, error: 'rejected' });
  await eventually('NACK recorded', () => row()?.status === 'NACKED');

  // c1 changes; c0 stays at the rejected version. The ACK of c1 does not clear the NACK.
  h.set({ clusters: { c0: [9100], c1: [9200] } });
  const next = await client.expect('endpoint');
  assert.deepEqual(next.resources.map((r) => r.name), ['c1']);
  client.delta('endpoint', { nonce: next.nonce });
  await eventually('ACK recorded', () => row()?.versionAcked === next.version);
  assert.equal(row()?.status, 'NACKED');

  // c0 changes again: sent, ACKed, the proxy is in sync.
  h.set({ clusters: { c0: [9300], c1: [9200] } });
  const fixed = await client.expect('endpoint');
  client.delta('endpoint', { nonce: fixed.nonce });
  await eventually('in sync', () => row()?.status === 'SYNCED');
});
