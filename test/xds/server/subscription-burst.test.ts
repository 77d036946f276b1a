/**
 * Bursts of subscription changes (docs/xds-protocol.md "Bursts of subscription changes"): a client
 * that subscribes one name per request, as grpc-js-xds and grpc-go do for the clusters of a route
 * configuration and then for their endpoints, gets one answer carrying every name, not one answer
 * per request; and a gRPC client is not resent endpoints after clusters (Envoy is, for warming).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, sotwBarrier } from '../../support/xds-client/harness.js';
import type { XdsTestClient, Received } from '../../support/xds-client/xds-client.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const N = 24;
const NAMES = Array.from({ length: N }, (_, i) => `c${String(i).padStart(2, '0')}`);
const TOPO: MiniTopology = { clusters: Object.fromEntries(NAMES.map((n, i) => [n, [9000 + i]])), extraEndpoints: { probe: [1] } };
const GRPC = { userAgentName: 'gRPC Node' } as const;

/** Subscribes `names` of CDS one more per request, in one burst, the way a gRPC client does. */
function burst(client: XdsTestClient, kind: 'cluster' | 'endpoint', names: readonly string[]): void {
  for (let i = 1; i <= names.length; i++) client.request(kind, names.slice(0, i));
}

/** Responses received until `quietMs` pass without one. */
async function drain(client: XdsTestClient, quietMs = 300): Promise<Received[]> {
  const got: Received[] = [];
  for (;;) {
    try {
      got.push(await client.next(quietMs));
    } catch {
      return got;
    }
  }
}

test('SotW: a burst of CDS then EDS subscriptions, one name more per request, is answered once each', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'grpc-burst', ...GRPC } });
  burst(client, 'cluster', NAMES);
  const cds = await drain(client);
  assert.deepEqual(cds.map((r) => r.kind), ['cluster'], 'one CDS answer');
  assert.deepEqual(cds[0]!.resources.map((r) => r.name), NAMES);
  client.ack('cluster');
  burst(client, 'endpoint', NAMES);
  const eds = await drain(client);
  assert.deepEqual(eds.map((r) => r.kind), ['endpoint'], 'one EDS answer');
  assert.deepEqual(eds[0]!.resources.map((r) => r.name), NAMES);
  client.ack('endpoint');
});

test('SotW without the hold-off (0 ms): the same burst is answered once per request, each repeating every name so far', async (t) => {
  const h = await startHarness(TOPO, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'grpc-eager', ...GRPC } });
  burst(client, 'cluster', NAMES);
  const cds = await drain(client);
  assert.equal(cds.length, N, 'one answer per request');
  const carried = cds.reduce((sum, r) => sum + r.resources.length, 0);
  assert.equal(carried, (N * (N + 1)) / 2, 'the answers repeat every name asked so far');
});

test('delta: a burst of subscriptions is answered once', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'grpc-delta-burst', ...GRPC }, protocol: 'delta' });
  for (const name of NAMES) client.delta('cluster', { subscribe: [name] });
  const got = await drain(client);
  assert.deepEqual(got.map((r) => r.kind), ['cluster']);
  assert.deepEqual(got[0]!.resources.map((r) => r.name), NAMES);
});

test('a burst is answered within the hold-off bound even while requests keep coming', async (t) => {
  const h = await startHarness(TOPO, { holdOff: { holdOffMs: 40, maxDelayMs: 120 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'grpc-long-burst', ...GRPC } });
  const started = Date.now();
  // One request every 20 ms for 400 ms: never 40 ms quiet, so only maxDelayMs ends each wait.
  let i = 0;
  const timer = setInterval(() => client.request('cluster', NAMES.slice(0, (i++ % N) + 1)), 20);
  t.after(() => clearInterval(timer));
  const first = await client.expect('cluster', 2000);
  clearInterval(timer);
  const waited = Date.now() - started;
  assert.ok(waited >= 100 && waited < 400, `first answer after ${waited} ms: bounded by maxDelayMs, not by the end of the burst`);
  assert.ok(first.resources.length > 1, 'it carries several requests of the burst');
});

test('SotW: after a cluster-only change a gRPC client gets CDS and no EDS resend; Envoy gets both', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const grpc = h.client({ node: { id: 'grpc-cds', ...GRPC } });
  const envoy = h.client({ node: { id: 'envoy-cds' } });
  for (const c of [grpc, envoy]) {
    c.request('cluster', NAMES);
    await c.expect('cluster');
    c.ack('cluster');
    c.request('endpoint', NAMES);
    await c.expect('endpoint');
    c.ack('endpoint');
  }
  h.set({ ...TOPO, connectTimeoutS: 7n });
  for (const c of [grpc, envoy]) {
    await c.expect('cluster');
    c.ack('cluster');
  }
  const edsVersion = h.versions().endpoint;
  assert.equal((await envoy.expect('endpoint')).version, edsVersion, 'Envoy: the unchanged EDS follows (cluster warming)');
  envoy.ack('endpoint');
  // The gRPC client's next response is the barrier's: no EDS was resent.
  await sotwBarrier(grpc, NAMES);
  assert.deepEqual(grpc.history.map((r) => r.kind), ['cluster', 'endpoint', 'cluster', 'endpoint']);
});

test('SotW EDS to a gRPC client carries only what changed; Envoy keeps full answers', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const grpc = h.client({ node: { id: 'grpc-partial', ...GRPC } });
  const envoy = h.client({ node: { id: 'envoy-full', userAgentName: 'envoy' } });
  for (const client of [grpc, envoy]) {
    client.request('endpoint', NAMES);
    const first = await client.next();
    assert.equal(first.resources.length, N, 'the first answer holds every name asked');
    client.ack('endpoint');
  }
  // One cluster's endpoints change.
  h.set({ ...TOPO, clusters: { ...TOPO.clusters, c03: [9100] } });
  const g = await grpc.next();
  assert.deepEqual(g.resources.map((r) => r.name), ['c03'], 'the gRPC client gets the changed assignment only');
  grpc.ack('endpoint');
  const e = await envoy.next();
  assert.equal(e.resources.length, N, 'Envoy gets the whole set');
  envoy.ack('endpoint');
  // A name added to the subscription: only it is sent.
  grpc.request('endpoint', [...NAMES, 'probe']);
  const added = await grpc.next();
  assert.deepEqual(added.resources.map((r) => r.name), ['probe'], 'a newly asked name is sent alone');
  grpc.ack('endpoint');
  // A name dropped leaves what the client holds: asked again, it is sent again.
  const without = [...NAMES.filter((n) => n !== 'c05'), 'probe'];
  grpc.request('endpoint', without);
  await new Promise((r) => setTimeout(r, 300)); // past the subscription hold-off: two requests, not one burst
  grpc.request('endpoint', [...NAMES, 'probe']);
  const again = await grpc.next();
  assert.deepEqual(again.resources.map((r) => r.name), ['c05'], 'a name dropped and asked again is resent');
});

test('SotW EDS: gRPC clients holding the same get the same partial answer', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const clients = ['grpc-a', 'grpc-b', 'grpc-c'].map((id) => h.client({ node: { id, ...GRPC } }));
  for (const client of clients) {
    client.request('endpoint', NAMES);
    assert.equal((await client.next()).resources.length, N);
    client.ack('endpoint');
  }
  h.set({ ...TOPO, clusters: { ...TOPO.clusters, c03: [9100], c07: [9101] } });
  for (const client of clients) {
    const r = await client.next();
    assert.deepEqual(r.resources.map((x) => x.name), ['c03', 'c07'], 'each gets the two changed assignments');
    client.ack('endpoint');
  }
  h.set({ ...TOPO, clusters: { ...TOPO.clusters, c03: [9100], c07: [9102] } });
  for (const client of clients) assert.deepEqual((await client.next()).resources.map((x) => x.name), ['c07'], 'then only what changed since');
});
