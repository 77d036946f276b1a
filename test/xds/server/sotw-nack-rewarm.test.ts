import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, sotwBarrier } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { Received } from '../../support/xds-client/xds-client.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002], c2: [9003] }, extraEndpoints: { probe: [1] } };
const EDS = ['c0', 'c1', 'c2'];
const namesOf = (r: Received) => r.resources.map((x) => x.name).sort();

test('SotW: after an EDS NACK, Envoy is sent the endpoints of re-warming clusters, without the rejected ones', async (t) => {
  // Envoy 1.40 rejects a whole EDS response. A cluster that changes re-warms until its
  // ClusterLoadAssignment comes: not resent, it waits initial_fetch_timeout (15 s by default);
  // resent with the rejected one, every cluster re-warming meanwhile comes up with no endpoint.
  // Left out, a ClusterLoadAssignment is kept: the rejected cluster keeps its last good endpoints.
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-snr' } });
  const row = () => h.server.proxy('envoy-snr')?.types.endpoint;
  client.request('cluster');
  await client.expect('cluster');
  client.ack('cluster');
  client.request('endpoint', EDS);
  assert.deepEqual(namesOf(await client.expect('endpoint')), EDS);
  client.ack('endpoint');

  h.set({ ...V1, clusters: { ...V1.clusters, c0: [9100] } });
  assert.deepEqual(namesOf(await client.expect('endpoint')), EDS);
  client.nack('endpoint', 'malformed IP address');
  await eventually('NACK recorded', () => row()?.status === 'NACKED');

  // Every cluster changes: their endpoints go again at once, but for the rejected c0.
  h.set({ ...V1, clusters: { ...V1.clusters, c0: [9100] }, connectTimeoutS: 3n });
  await client.expect('cluster');
  client.ack('cluster');
  const rewarm = await client.expect('endpoint', 2000);
  assert.deepEqual(namesOf(rewarm), ['c1', 'c2']);
  client.ack('endpoint');
  await eventually('ACK recorded', () => row()?.versionAcked === h.versions().endpoint);
  assert.equal(row()!.status, 'NACKED', 'the rejected endpoints are still not applied');

  // Another endpoint change, with the rejected c0 still served: sent without c0 again.
  h.set({ ...V1, clusters: { ...V1.clusters, c0: [9100], c1: [9300] }, connectTimeoutS: 3n });
  assert.deepEqual(namesOf(await client.expect('endpoint')), ['c1', 'c2']);
  client.ack('endpoint');
  await sotwBarrier(client, EDS);

  // A new version of c0 is not the rejected one: the whole set goes, and once ACKed it is in sync.
  h.set({ ...V1, clusters: { ...V1.clusters, c0: [9200], c1: [9300] }, connectTimeoutS: 3n });
  assert.deepEqual(namesOf(await client.expect('endpoint')), [...EDS, 'probe'], 'the barrier subscribed the probe');
  client.ack('endpoint');
  await eventually('in sync', () => row()?.status === 'SYNCED');
});
