import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaBarrier, startHarness, type Harness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { Received } from '../../support/xds-client/xds-client.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001, 9002], c1: [9003], c2: [9004] } };

function versionsOf(h: Harness, kind: 'cluster' | 'endpoint'): Record<string, string> {
  const s = h.cache.snapshot({ flavor: 'envoy', zone: '', subzone: '' })!;
  return Object.fromEntries([...s.kinds[kind].resources.values()].map((r) => [r.name, r.version]));
}

const namesOf = (r: Received) => r.resources.map((x) => x.name).sort();

test('delta: wildcard CDS carries per-resource versions and the kind version; subscribe and unsubscribe EDS by name', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-d1' }, protocol: 'delta' });
  client.delta('cluster'); // empty first request: wildcard
  const cds = await client.expect('cluster');
  assert.deepEqual(namesOf(cds), ['c0', 'c1', 'c2']);
  assert.equal(cds.version, h.versions().cluster, 'system_version_info is the kind version');
  const versions = versionsOf(h, 'cluster');
  for (const r of cds.resources) assert.equal(r.version, versions[r.name]);
  client.delta('cluster', { nonce: cds.nonce });

  client.delta('endpoint', { subscribe: ['c0'] });
  const e1 = await client.expect('endpoint');
  assert.deepEqual(namesOf(e1), ['c0']);
  client.delta('endpoint', { nonce: e1.nonce, subscribe: ['c1'] }); // ACK carrying a new subscription
  const e2 = await client.expect('endpoint');
  assert.deepEqual(namesOf(e2), ['c1'], 'c0 is held already and not resent');
  client.delta('endpoint', { nonce: e2.nonce });
  await eventually('EDS ACK', () => h.server.proxy('envoy-d1')?.types.endpoint!.status === 'SYNCED');
  const row = h.server.proxy('envoy-d1')!;
  assert.equal(row.protocol, 'delta');
  assert.deepEqual(row.types.endpoint!.subscribed, { wildcard: false, names: ['c0', 'c1'], count: 2 });
  assert.deepEqual(row.types.cluster!.subscribed, { wildcard: true, names: [], count: 0 });
  assert.deepEqual(h.server.sentResources('envoy-d1')!.endpoint.map((r) => r.name), ['c0', 'c1']);

  client.delta('endpoint', { unsubscribe: ['c0'] });
  await eventually('unsubscribe applied', () => h.server.proxy('envoy-d1')!.types.endpoint!.subscribed.names.join() === 'c1');
  // c0 changes after the unsubscribe: nothing for it; c1 changes: sent.
  h.set({ clusters: { c0: [9101], c1: [9003], c2: [9004] } });
  await deltaBarrier(client);
  h.set({ clusters: { c0: [9101], c1: [9103], c2: [9004] } });
  const e3 = await client.expect('endpoint');
  assert.deepEqual(namesOf(e3), ['c1']);
  assert.equal(e3.resources[0]!.version, versionsOf(h, 'endpoint').c1);
  client.delta('endpoint', { nonce: e3.nonce });
  assert.deepEqual(h.server.sentResources('envoy-d1')!.endpoint.map((r) => r.name), ['c1']);

  // Subscribing again to a name the proxy already holds is answered (the proxy may have dropped it).
  client.delta('endpoint', { subscribe: ['c1'] });
  assert.deepEqual(namesOf(await client.expect('endpoint')), ['c1']);
});

test('delta: a resource that disappears is listed in removed_resources; a name that never existed too', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-d2' }, protocol: 'delta' });
  client.delta('cluster', { subscribe: ['*'] });
  const cds = await client.expect('cluster');
  client.delta('cluster', { nonce: cds.nonce });
  client.delta('endpoint', { subscribe: ['c0', 'c1', 'c2'] });
  const eds = await client.expect('endpoint');
  client.delta('endpoint', { nonce: eds.nonce });

  h.set({ clusters: { c0: [9001, 9002], c2: [9004] } });
  const cds2 = await client.expect('cluster');
  assert.deepEqual(cds2.resources, [], 'remaining clusters unchanged');
  assert.deepEqual(cds2.removed, ['c1']);
  const eds2 = await client.expect('endpoint');
  assert.deepEqual(eds2.removed, ['c1']);
  assert.deepEqual(eds2.resources, []);
  assert.deepEqual(h.server.sentResources('envoy-d2')!.cluster.map((r) => r.name), ['c0', 'c2']);

  client.delta('route', { subscribe: ['no-such-route'] });
  const rds = await client.expect('route');
  assert.deepEqual(rds.removed, ['no-such-route']);
});

test('delta: a reconnect with initial_resource_versions gets nothing for unchanged resources', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const first = h.client({ node: { id: 'envoy-d3' }, protocol: 'delta' });
  first.delta('cluster');
  const cds = await first.expect('cluster');
  first.delta('endpoint', { subscribe: ['c0', 'c1', 'c2'] });
  const eds = await first.expect('endpoint');
  const held = (r: Received) => Object.fromEntries(r.resources.map((x) => [x.name, x.version!]));
  const heldClusters = held(cds);
  const heldEndpoints = held(eds);
  first.close();
  await eventually('old stream gone', () => h.server.proxies().length === 0);

  // Meanwhile c2's endpoints changed and c1 was removed.
  h.set({ clusters: { c0: [9001, 9002], c2: [9204] } });
  const again = h.client({ node: { id: 'envoy-d3' }, protocol: 'delta' });
  again.delta('cluster', { initial: heldClusters });
  const cds2 = await again.expect('cluster');
  assert.deepEqual(cds2.resources, [], 'no unchanged cluster resent');
  assert.deepEqual(cds2.removed, ['c1']);
  again.delta('cluster', { nonce: cds2.nonce });
  again.delta('endpoint', { subscribe: ['c0', 'c2'], initial: { c0: heldEndpoints.c0!, c2: heldEndpoints.c2! } });
  const eds2 = await again.expect('endpoint');
  assert.deepEqual(namesOf(eds2), ['c2'], 'only the changed CLA');
  assert.deepEqual(eds2.removed, []);
  again.delta('endpoint', { nonce: eds2.nonce });

  // A second replica restarted on the same input: same versions, so a reconnect to it is silent.
  const quiet = h.client({ node: { id: 'envoy-d3b' }, protocol: 'delta' });
  quiet.delta('cluster', { initial: Object.fromEntries(Object.entries(heldClusters).filter(([n]) => n !== 'c1')) });
  await deltaBarrier(quiet);
  assert.deepEqual(quiet.history.map((r) => r.kind), ['endpoint'], 'no CDS response at all');
});

test('delta: on a reconnect, endpoints of a cluster changed meanwhile are resent though the proxy says it holds them', async (t) => {
  // Envoy re-warms a changed cluster until it receives its ClusterLoadAssignment again. On a new
  // stream CDS can be answered before the EDS request comes; that request's
  // initial_resource_versions then names the endpoints as held, and without a resend the cluster
  // stays warming until Envoy's initial_fetch_timeout (a real Envoy 1.40 did).
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const first = h.client({ node: { id: 'envoy-rw' }, protocol: 'delta' });
  first.delta('cluster');
  const cds = await first.expect('cluster');
  first.delta('endpoint', { subscribe: ['c0', 'c1', 'c2'] });
  const eds = await first.expect('endpoint');
  const held = (r: Received) => Object.fromEntries(r.resources.map((x) => [x.name, x.version!]));
  first.close();
  await eventually('old stream gone', () => h.server.proxies().length === 0);

  // Meanwhile every cluster changed (not its endpoints).
  h.set({ ...V1, connectTimeoutS: 3n });
  const again = h.client({ node: { id: 'envoy-rw' }, protocol: 'delta' });
  again.delta('cluster', { initial: held(cds) });
  const cds2 = await again.expect('cluster');
  assert.deepEqual(namesOf(cds2), ['c0', 'c1', 'c2']);
  again.delta('cluster', { nonce: cds2.nonce });
  again.delta('endpoint', { subscribe: ['c0', 'c1'], initial: held(eds) });
  const eds2 = await again.expect('endpoint', 2000);
  assert.deepEqual(namesOf(eds2), ['c0', 'c1'], 'the subscribed endpoints of the re-warming clusters');
  assert.deepEqual(eds2.resources.map((r) => r.version), [held(eds).c0, held(eds).c1], 'unchanged, resent');
  again.delta('endpoint', { nonce: eds2.nonce });

  // Once: a later change of one CLA sends that one alone.
  h.set({ clusters: { ...V1.clusters, c1: [9103] }, connectTimeoutS: 3n });
  assert.deepEqual(namesOf(await again.expect('endpoint')), ['c1']);
});

test('delta: a NACK is recorded and not resent; the next change is sent', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-d4' }, protocol: 'delta' });
  client.delta('cluster');
  const cds = await client.expect('cluster');
  client.delta('cluster', { nonce: cds.nonce });
  h.set({ ...V1, connectTimeoutS: 9n });
  const cds2 = await client.expect('cluster');
  assert.deepEqual(namesOf(cds2), ['c0', 'c1', 'c2']);
  client.delta('cluster', { nonce: cds2.nonce, error: 'bad timeout' });
  await eventually('NACK recorded', () => h.server.proxy('envoy-d4')?.types.cluster!.status === 'NACKED');
  assert.equal(h.server.proxy('envoy-d4')!.types.cluster!.lastNack?.message, 'bad timeout');
  assert.equal(h.server.proxy('envoy-d4')!.types.cluster!.lastNack?.version, h.versions().cluster);
  h.set({ ...V1, connectTimeoutS: 9n }); // same content again
  await deltaBarrier(client);
  assert.equal(client.history.filter((r) => r.kind === 'cluster').length, 2, 'no resend after the NACK');

  h.set({ ...V1, connectTimeoutS: 10n });
  const cds3 = await client.expect('cluster');
  assert.equal(cds3.version, h.versions().cluster);
  client.delta('cluster', { nonce: cds3.nonce });
  await eventually('ACK', () => h.server.proxy('envoy-d4')?.types.cluster!.status === 'SYNCED');
});

test('delta: a stale nonce does not ACK, but its subscription change applies', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-d5' }, protocol: 'delta' });
  client.delta('endpoint', { subscribe: ['c0'] });
  const e1 = await client.expect('endpoint');
  h.set({ clusters: { c0: [9100], c1: [9003], c2: [9004] } });
  const e2 = await client.expect('endpoint');
  client.delta('endpoint', { nonce: e1.nonce, subscribe: ['c2'] });
  const e3 = await client.expect('endpoint');
  assert.deepEqual(namesOf(e3), ['c2']);
  assert.notEqual(e2.nonce, e3.nonce);
  assert.equal(h.server.proxy('envoy-d5')!.types.endpoint!.status, 'STALE');
  client.delta('endpoint', { nonce: e3.nonce });
  await eventually('ACK with the latest nonce', () => h.server.proxy('envoy-d5')?.types.endpoint!.status === 'SYNCED');
});
