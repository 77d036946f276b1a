import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaBarrier, startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { Received } from '../../support/xds-client/xds-client.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002], c2: [9003] } };
const namesOf = (r: Received) => r.resources.map((x) => x.name).sort();

test('delta: after an EDS NACK, clusters that change get their endpoints again, but for the rejected ones', async (t) => {
  // Envoy 1.40 re-warms a changed cluster until its ClusterLoadAssignment comes. Not resent, it
  // waits initial_fetch_timeout (15 s by default); the rejected one resent, Envoy rejects it again
  // and the re-warming cluster comes up with no endpoint, where left out it keeps its last good ones.
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-nr' }, protocol: 'delta' });
  client.delta('cluster');
  const cds = await client.expect('cluster');
  client.delta('cluster', { nonce: cds.nonce });
  client.delta('endpoint', { subscribe: ['c0', 'c1', 'c2'] });
  const eds = await client.expect('endpoint');
  client.delta('endpoint', { nonce: eds.nonce });

  h.set({ clusters: { ...V1.clusters, c0: [9100] } });
  const bad = await client.expect('endpoint');
  assert.deepEqual(namesOf(bad), ['c0']);
  client.delta('endpoint', { nonce: bad.nonce, error: 'malformed IP address' });
  await eventually('NACK recorded', () => h.server.proxy('envoy-nr')?.types.endpoint!.status === 'NACKED');

  h.set({ clusters: { ...V1.clusters, c0: [9100] }, connectTimeoutS: 3n });
  const cds2 = await client.expect('cluster');
  assert.deepEqual(namesOf(cds2), ['c0', 'c1', 'c2']);
  client.delta('cluster', { nonce: cds2.nonce });
  const rewarm = await client.expect('endpoint', 2000);
  assert.deepEqual(namesOf(rewarm), ['c1', 'c2'], 'the re-warming clusters\' endpoints, not the rejected c0');
  assert.deepEqual(rewarm.removed, []);
  client.delta('endpoint', { nonce: rewarm.nonce });
  await deltaBarrier(client);
  const row = () => h.server.proxy('envoy-nr')!.types.endpoint!;

  // Still rejected after an ACKed response: another cluster change leaves c0 out again.
  h.set({ clusters: { ...V1.clusters, c0: [9100] }, connectTimeoutS: 4n });
  client.delta('cluster', { nonce: (await client.expect('cluster')).nonce });
  assert.deepEqual(namesOf(await client.expect('endpoint', 2000)), ['c1', 'c2']);

  // A new version of c0 is not the rejected one: it is sent.
  h.set({ clusters: { ...V1.clusters, c0: [9200] }, connectTimeoutS: 4n });
  const fixed = await client.expect('endpoint');
  assert.deepEqual(namesOf(fixed), ['c0']);
  client.delta('endpoint', { nonce: fixed.nonce });
  await eventually('in sync', () => row().status === 'SYNCED');
});
