/**
 * Delta, after an EDS NACK: a ClusterLoadAssignment the proxy later accepted (ACKed) at the version
 * once rejected is no longer rejected. A cluster change must resend it to Envoy (cluster warming);
 * left out, the cluster waits initial_fetch_timeout (15 s by default) for endpoints that never come.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { Received } from '../../support/xds-client/xds-client.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002], c2: [9003] } };
const namesOf = (r: Received) => r.resources.map((x) => x.name).sort();

test('delta: endpoints ACKed at a version once NACKed are re-warmed after a cluster change', async (t) => {
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-rr' }, protocol: 'delta' });
  const row = () => h.server.proxy('envoy-rr')?.types.endpoint;
  client.delta('cluster');
  client.delta('cluster', { nonce: (await client.expect('cluster')).nonce });
  client.delta('endpoint', { subscribe: ['c0', 'c1', 'c2'] });
  client.delta('endpoint', { nonce: (await client.expect('endpoint')).nonce });

  // c0 at [9100] is NACKed (say another resource of the response was the bad one).
  h.set({ clusters: { ...V1.clusters, c0: [9100] } });
  const bad = await client.expect('endpoint');
  assert.deepEqual(namesOf(bad), ['c0']);
  client.delta('endpoint', { nonce: bad.nonce, error: 'rejected' });
  await eventually('NACK recorded', () => row()?.status === 'NACKED');

  // c0 goes back, then to [9100] again: both sent and ACKed, so the proxy holds c0 at that version.
  h.set(V1);
  const back = await client.expect('endpoint');
  assert.deepEqual(namesOf(back), ['c0']);
  client.delta('endpoint', { nonce: back.nonce });
  h.set({ clusters: { ...V1.clusters, c0: [9100] } });
  const again = await client.expect('endpoint');
  assert.deepEqual(namesOf(again), ['c0']);
  client.delta('endpoint', { nonce: again.nonce });
  await eventually('in sync', () => row()?.status === 'SYNCED' && row()?.versionAcked === h.versions().endpoint);

  // Every cluster changes: Envoy re-warms all three, so all three get their endpoints again.
  h.set({ clusters: { ...V1.clusters, c0: [9100] }, connectTimeoutS: 3n });
  const cds = await client.expect('cluster');
  assert.deepEqual(namesOf(cds), ['c0', 'c1', 'c2']);
  client.delta('cluster', { nonce: cds.nonce });
  const rewarm = await client.expect('endpoint', 2000);
  assert.deepEqual(namesOf(rewarm), ['c0', 'c1', 'c2'], 'c0 was accepted at this version: it re-warms too');
});
