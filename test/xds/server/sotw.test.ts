import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { ClusterSchema } from '../../../src/xds/proto.js';
import { startHarness, sotwBarrier, type Harness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { XdsTestClient } from '../../support/xds-client/xds-client.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001, 9002], c1: [9003] }, extraEndpoints: { probe: [1] } };
const EDS_NAMES = ['c0', 'c1'];

/** Subscribes to everything the way Envoy does over ADS and ACKs each answer. */
async function syncAll(h: Harness, client: XdsTestClient): Promise<void> {
  client.request('cluster');
  const cds = await client.expect('cluster');
  assert.equal(cds.version, h.versions().cluster);
  assert.deepEqual(cds.resources.map((r) => r.name), ['c0', 'c1']);
  client.ack('cluster');
  client.request('endpoint', EDS_NAMES);
  const eds = await client.expect('endpoint');
  assert.deepEqual(eds.resources.map((r) => r.name), ['c0', 'c1'], 'only subscribed EDS names (not the probe)');
  client.ack('endpoint');
  client.request('listener');
  assert.deepEqual((await client.expect('listener')).resources.map((r) => r.name), ['cache.svc']);
  client.ack('listener');
  client.request('route', ['cache-route']);
  assert.deepEqual((await client.expect('route')).resources.map((r) => r.name), ['cache-route']);
  client.ack('route');
}

test('SotW ADS: wildcard CDS/LDS, named EDS/RDS, versions from the snapshot, ACKs shown as SYNCED', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-1', locality: { zone: 'z1', subZone: 'nvl-1' } } });
  await syncAll(h, client);
  await eventually('route ACK recorded', () => h.server.proxy('envoy-1')?.types.route!.status === 'SYNCED');
  const row = h.server.proxy('envoy-1')!;
  assert.equal(row.flavor, 'envoy');
  assert.equal(row.userAgent, 'envoy');
  assert.deepEqual(row.locality, { region: '', zone: 'z1', subzone: 'nvl-1' });
  assert.equal(row.proxyClass, 'envoy|z1|nvl-1');
  assert.equal(row.protocol, 'sotw');
  assert.equal(row.service, 'ads');
  assert.ok(Date.parse(row.connectedSince) <= Date.now());
  const versions = h.versions({ flavor: 'envoy', zone: 'z1', subzone: 'nvl-1' });
  for (const kind of ['cluster', 'endpoint', 'listener', 'route'] as const) {
    assert.equal(row.types[kind]!.status, 'SYNCED', kind);
    assert.equal(row.types[kind]!.versionSent, versions[kind]);
    assert.equal(row.types[kind]!.versionAcked, versions[kind]);
  }
  assert.deepEqual(row.types.cluster!.subscribed, { wildcard: true, names: [], count: 0 });
  assert.deepEqual(row.types.endpoint!.subscribed, { wildcard: false, names: ['c0', 'c1'], count: 2 });
  // Nonces are unique on the stream (the client checks), one per response.
  assert.equal(new Set(client.history.map((r) => r.nonce)).size, 4);

  const sent = h.server.sentResources('envoy-1')!;
  assert.deepEqual(sent.cluster.map((r) => r.name), ['c0', 'c1']);
  assert.deepEqual(sent.endpoint.map((r) => r.name), ['c0', 'c1']);
  const c0 = anyUnpack(sent.cluster[0]!.any, ClusterSchema)!;
  assert.equal(c0.name, 'c0');
  assert.equal(h.server.sentResources('nobody'), undefined);
});

test('SotW: a change touching every kind is sent in CDS, EDS, LDS, RDS order', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-order' } });
  await syncAll(h, client);
  const before = h.versions();
  // New endpoints, cluster timeout, listener stat prefix and route target: all four kinds change.
  h.set({ clusters: { c0: [9101], c1: [9103] }, connectTimeoutS: 2n, statPrefix: 'v2', routeCluster: 'c1', extraEndpoints: { probe: [1] } });
  const after = h.versions();
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await client.next());
  assert.deepEqual(got.map((r) => r.kind), ['cluster', 'endpoint', 'listener', 'route']);
  for (const r of got) {
    assert.equal(r.version, after[r.kind], `${r.kind} carries the new kind version`);
    assert.notEqual(r.version, before[r.kind]);
  }
  for (const r of got) client.ack(r.kind);
  // Exactly four: the next response is the barrier's.
  await sotwBarrier(client, EDS_NAMES);
  await eventually('all ACKs', () => Object.values(h.server.proxy('envoy-order')!.types).every((x) => x.status === 'SYNCED'));
});

test('SotW: an endpoint-only change wakes only EDS', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-eds' } });
  await syncAll(h, client);
  const before = h.versions();
  h.set({ ...V1, clusters: { c0: [9001, 9002], c1: [9004] } });
  const eds = await client.expect('endpoint');
  assert.equal(eds.version, h.versions().endpoint);
  assert.notEqual(eds.version, before.endpoint);
  client.ack('endpoint');
  // Nothing else was sent: the next response is the barrier's.
  await sotwBarrier(client, EDS_NAMES);
  assert.deepEqual(
    client.history.slice(4).map((r) => r.kind),
    ['endpoint', 'endpoint'],
  );
  const after = h.versions();
  assert.equal(after.cluster, before.cluster);
  assert.equal(after.listener, before.listener);
  assert.equal(after.route, before.route);
});

test('SotW: a NACK is recorded, not resent, and the next real change is sent', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-nack' } });
  await syncAll(h, client);
  const v1 = h.versions().cluster;

  h.set({ ...V1, connectTimeoutS: 5n });
  const cds2 = await client.expect('cluster');
  const v2 = cds2.version;
  assert.notEqual(v2, v1);
  // Envoy re-warms changed clusters until their CLA arrives: EDS follows, unchanged.
  const edsAgain = await client.expect('endpoint');
  assert.equal(edsAgain.version, h.versions().endpoint);
  client.ack('endpoint');
  client.nack('cluster', 'cluster c0: connect_timeout too long');
  await eventually('NACK recorded', () => h.server.proxy('envoy-nack')?.types.cluster!.status === 'NACKED');
  const row = h.server.proxy('envoy-nack')!.types.cluster!;
  assert.equal(row.versionSent, v2);
  assert.equal(row.versionAcked, v1);
  assert.equal(row.lastNack?.version, v2);
  assert.equal(row.lastNack?.message, 'cluster c0: connect_timeout too long');
  assert.ok(Date.parse(row.lastNack!.at) > 0);

  // No resend, no loop: the NACK again, then a rebuild with the same content; the next response is the barrier's.
  client.nack('cluster', 'cluster c0: connect_timeout too long');
  h.set({ ...V1, connectTimeoutS: 5n });
  client.request('cluster'); // a plain re-request (subscription unchanged) from a proxy still on v1
  await sotwBarrier(client, EDS_NAMES);
  assert.equal(h.server.proxy('envoy-nack')!.types.cluster!.status, 'NACKED');

  // The next real change goes out, and its ACK clears the status (the last NACK stays on record).
  h.set({ ...V1, connectTimeoutS: 6n });
  const cds3 = await client.expect('cluster');
  assert.notEqual(cds3.version, v2);
  assert.equal(cds3.version, h.versions().cluster);
  client.ack('cluster');
  await client.expect('endpoint');
  client.ack('endpoint');
  await eventually('ACK of v3', () => h.server.proxy('envoy-nack')?.types.cluster!.status === 'SYNCED');
  assert.equal(h.server.proxy('envoy-nack')!.types.cluster!.lastNack?.version, v2);

  // Rolling back to the content of v1 is a real change too.
  h.set(V1);
  assert.equal((await client.expect('cluster')).version, v1);
});

test('SotW: a request with a stale nonce is ignored (no ACK, no NACK, no subscription change)', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-stale' } });
  await syncAll(h, client);
  const oldNonce = client.last('cluster')!.nonce;
  h.set({ ...V1, connectTimeoutS: 7n });
  await client.expect('cluster');
  await client.expect('endpoint');
  client.ack('endpoint');
  // A NACK and a narrowed subscription, both carrying the previous nonce: stale.
  client.request('cluster', ['c0'], { nonce: oldNonce, error: 'late complaint about an old version', ignoredByServer: true });
  await sotwBarrier(client, EDS_NAMES);
  const row = h.server.proxy('envoy-stale')!.types.cluster!;
  assert.equal(row.status, 'STALE', 'latest CDS neither acknowledged nor rejected');
  assert.equal(row.lastNack, undefined);
  assert.deepEqual(row.subscribed, { wildcard: true, names: [], count: 0 });
  client.ack('cluster');
  await eventually('ACK with the latest nonce', () => h.server.proxy('envoy-stale')?.types.cluster!.status === 'SYNCED');
});

test('SotW: named CDS/LDS (as grpc-js-xds asks) get only the names asked; removals follow the full set', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'grpc-1', userAgentName: 'gRPC Node Pure JS' } });
  client.request('listener', ['cache.svc', 'not-there.svc']);
  const lds = await client.expect('listener');
  assert.deepEqual(lds.resources.map((r) => r.name), ['cache.svc']);
  assert.equal(lds.version, h.versions({ flavor: 'grpc', zone: '', subzone: '' }).listener);
  client.ack('listener');
  client.request('cluster', ['c1']);
  assert.deepEqual((await client.expect('cluster')).resources.map((r) => r.name), ['c1']);
  client.ack('cluster');
  // A named CDS that does not exist is answered with a response without it ("does not exist").
  client.request('cluster', ['c1', 'ghost']);
  assert.deepEqual((await client.expect('cluster')).resources.map((r) => r.name), ['c1']);
  client.ack('cluster');
  // Removing c1 from the topology: the full named set no longer holds it.
  h.set({ clusters: { c0: [9001] }, extraEndpoints: { probe: [1] } });
  const cds = await client.expect('cluster');
  assert.deepEqual(cds.resources.map((r) => r.name), []);
  assert.equal(h.server.proxy('grpc-1')!.flavor, 'grpc');
});

test('SotW: the first request must carry a node; unknown types are ignored', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const anonymous = h.client({ node: { id: '' } });
  anonymous.request('cluster');
  const status = await anonymous.finished;
  assert.equal(status.code, GrpcStatus.INVALID_ARGUMENT);
  assert.match(status.details, /node\.id/);

  const client = h.client({ node: { id: 'envoy-sds' } });
  client.request('cluster');
  await client.expect('cluster');
  client.ack('cluster');
  // A secret (SDS) request is not served; the stream goes on.
  client.raw({ typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', resourceNames: ['cert'] });
  await sotwBarrier(client, EDS_NAMES);
  assert.deepEqual(client.history.map((r) => r.kind), ['cluster', 'endpoint']);
});

test('SotW: closing a stream removes the proxy and its watches', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-bye' } });
  client.request('cluster');
  await client.expect('cluster');
  await eventually('proxy listed', () => h.server.proxies().some((p) => p.id === 'envoy-bye'));
  assert.equal(h.cache.classes()[0]!.watchers, 1);
  client.close();
  await eventually('proxy gone', () => h.server.proxies().length === 0);
  assert.equal(h.cache.classes()[0]?.watchers ?? 0, 0);
});
