import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { credentials, makeGenericClientConstructor, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { DiscoveryRequestSchema } from '../../../src/xds/proto.js';
import { grpcServiceDefinition, PER_TYPE_SERVICES } from '../../../src/xds/server/index.js';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9003] } };

test('per-type services: CDS and EDS streams of one node merge into one proxy row', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const cds = h.client({ node: { id: 'envoy-pt' }, service: 'cluster' });
  const eds = h.client({ node: { id: 'envoy-pt' }, service: 'endpoint' });
  cds.request('cluster');
  const c = await cds.expect('cluster');
  assert.deepEqual(c.resources.map((r) => r.name), ['c0', 'c1']);
  cds.ack('cluster');
  eds.request('endpoint', ['c1']);
  const e = await eds.expect('endpoint');
  assert.deepEqual(e.resources.map((r) => r.name), ['c1']);
  eds.ack('endpoint');
  await eventually('both types acknowledged', () => {
    const row = h.server.proxy('envoy-pt');
    return row?.types.cluster!.status === 'SYNCED' && row.types.endpoint!.status === 'SYNCED';
  });
  const row = h.server.proxy('envoy-pt')!;
  assert.equal(row.service, 'per-type');
  assert.equal(row.streams.length, 2);
  assert.deepEqual(row.streams.map((s) => s.service).sort(), ['cluster', 'endpoint']);
  assert.equal(row.types.listener!.status, 'NOT_SENT');
  assert.equal(h.server.proxies().length, 1);

  // An endpoint change reaches the EDS stream only.
  h.set({ clusters: { c0: [9001], c1: [9013] } });
  assert.equal((await eds.expect('endpoint')).version, h.versions().endpoint);
  cds.request('cluster', ['c0']); // a CDS question: answered on the CDS stream
  assert.deepEqual((await cds.expect('cluster')).resources.map((r) => r.name), ['c0']);
  assert.deepEqual(cds.history.map((r) => r.kind), ['cluster', 'cluster']);

  eds.close();
  await eventually('EDS stream gone', () => h.server.proxy('envoy-pt')?.streams.length === 1);
  assert.equal(h.server.proxy('envoy-pt')!.types.endpoint!.status, 'NOT_SENT');
});

test('per-type delta service and the Fetch* methods', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const lds = h.client({ node: { id: 'envoy-lds' }, service: 'listener', protocol: 'delta' });
  lds.delta('listener');
  const l = await lds.expect('listener');
  assert.deepEqual(l.resources.map((r) => r.name), ['cache.svc']);

  const cds = PER_TYPE_SERVICES.find((s) => s.kind === 'cluster')!.service;
  const Ctor = makeGenericClientConstructor(grpcServiceDefinition(cds), 'CDS');
  const client = new Ctor(`127.0.0.1:${h.server.port}`, credentials.createInsecure());
  t.after(() => client.close());
  const err = await new Promise<ServiceError | null>((resolve) => {
    (client as unknown as Record<string, (req: unknown, cb: (e: ServiceError | null) => void) => void>).FetchClusters!(
      create(DiscoveryRequestSchema, { node: { id: 'fetcher' } }),
      (e) => resolve(e),
    );
  });
  assert.equal(err?.code, GrpcStatus.UNIMPLEMENTED);
});

test('a restarted server on the same input serves identical versions', async (t) => {
  const a = await startHarness(V1);
  t.after(() => a.close());
  const b = await startHarness(V1);
  t.after(() => b.close());
  const ca = a.client({ node: { id: 'envoy-r' } });
  const cb = b.client({ node: { id: 'envoy-r' } });
  for (const c of [ca, cb]) {
    c.request('cluster');
    c.request('endpoint', ['c0', 'c1']);
    c.request('listener');
    c.request('route', ['cache-route']);
  }
  const got = async (c: typeof ca) => {
    const out: Record<string, string> = {};
    for (let i = 0; i < 4; i++) {
      const r = await c.next();
      out[r.kind] = r.version;
    }
    return out;
  };
  const va = await got(ca);
  const vb = await got(cb);
  assert.deepEqual(va, vb);
  assert.equal(Object.keys(va).length, 4);
  assert.notEqual(a.server.port, b.server.port);
});

test('close() ends open streams with OK and forgets every proxy', async () => {
  const h = await startHarness(V1);
  const client = h.client({ node: { id: 'envoy-close' }, protocol: 'delta' });
  client.delta('cluster');
  await client.expect('cluster');
  assert.equal(h.server.proxies().length, 1);
  await h.server.close();
  const status = await client.finished;
  assert.equal(status.code, GrpcStatus.OK);
  assert.equal(h.server.proxies().length, 0);
  assert.equal(h.cache.classes()[0]?.watchers ?? 0, 0);
  await h.close(); // idempotent
});
