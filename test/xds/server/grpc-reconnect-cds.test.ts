/**
 * A proxyless gRPC client that connects holding a configuration from another keyway (a restarted
 * one, another replica): its first CDS request names clusters its routes from there name. A full
 * CDS answer without those makes the client drop them while its routes still name them, so the
 * answer waits until the client ACKed this stream's routes (docs/xds-protocol.md "State of the world").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';
import { RECONNECT_CDS_HOLD_MAX_MS, RECONNECT_ROUTE_LINGER_MS } from '../../../src/xds/server/sotw-session.js';

const TOPO: MiniTopology = { clusters: { 'tuple-new': [9001] }, listener: 'cache.svc', route: 'cache-route', routeCluster: 'tuple-new' };
const GRPC = { id: 'grpc-moved', userAgentName: 'gRPC Node Client' };

/** Nothing arrives within `ms`. */
async function quiet(client: { pending: number; next(ms: number): Promise<unknown> }, ms: number, what: string): Promise<void> {
  await assert.rejects(client.next(ms), /no xDS response/, what);
}

/** A reconnecting client's first requests, asking for `clusters`; the routes come first, and the listener is ACKed. */
async function untilRoutes(c: ReturnType<Awaited<ReturnType<typeof startHarness>>['client']>, clusters: string[]): Promise<void> {
  c.request('listener', ['cache.svc']);
  c.request('route', ['cache-route']);
  c.request('cluster', clusters);
  assert.equal((await c.next()).kind, 'listener', 'no CDS answer drops a cluster before the routes that stop naming it');
  c.ack('listener');
  await c.expect('route');
}

test('a gRPC client asking for a cluster keyway does not serve gets the routes first, and its clusters once it lets that one go', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const c = h.client({ node: GRPC });
  // What grpc-js-xds asks on a new stream: everything it holds, routes to tuple-old included.
  c.request('listener', ['cache.svc']);
  c.request('route', ['cache-route']);
  c.request('cluster', ['tuple-old']);
  c.request('endpoint', ['tuple-old']);
  const first = await c.next();
  assert.equal(first.kind, 'listener', 'no CDS answer drops tuple-old before the routes that stop naming it');
  c.ack('listener');
  const routes = await c.expect('route');
  c.ack('route');
  // The client applies the routes and asks for tuple-new, still holding tuple-old for calls on its old routes.
  c.request('cluster', ['tuple-old', 'tuple-new']);
  await quiet(c, 300, 'no CDS answer while the client still asks for tuple-old, just after the routes');
  assert.ok(routes.resources.length === 1);
  // Once it lets tuple-old go, its clusters come at once.
  c.request('cluster', ['tuple-new']);
  const clusters = await c.expect('cluster', 500);
  assert.deepEqual(clusters.resources.map((r) => r.name), ['tuple-new']);
});

test('the wait ends a linger after the routes are ACKed, when the client keeps asking for the cluster', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const c = h.client({ node: GRPC });
  await untilRoutes(c, ['tuple-old', 'tuple-new']);
  const ackedAt = Date.now();
  c.ack('route');
  const clusters = await c.expect('cluster', RECONNECT_ROUTE_LINGER_MS + 2000);
  assert.ok(Date.now() - ackedAt >= RECONNECT_ROUTE_LINGER_MS - 50, 'not before the linger');
  assert.deepEqual(clusters.resources.map((r) => r.name), ['tuple-new']);
});

test('a gRPC client asking only for clusters keyway serves is answered in the usual order', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const c = h.client({ node: GRPC });
  c.request('listener', ['cache.svc']);
  c.request('route', ['cache-route']);
  c.request('cluster', ['tuple-new']);
  c.request('endpoint', ['tuple-new']);
  assert.deepEqual([(await c.next()).kind, (await c.next()).kind, (await c.next()).kind, (await c.next()).kind], ['cluster', 'endpoint', 'listener', 'route']);
});

test('Envoy (wildcard CDS) is not held', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const c = h.client({ node: { id: 'envoy-1' } });
  c.request('cluster');
  c.request('listener');
  assert.equal((await c.next()).kind, 'cluster');
});

test('a client that never ACKs the routes gets its clusters once the bound runs out', async (t) => {
  const h = await startHarness(TOPO);
  t.after(() => h.close());
  const c = h.client({ node: GRPC });
  const connectedAt = Date.now();
  await untilRoutes(c, ['tuple-old', 'tuple-new']);
  c.nack('route', 'rejected');
  const clusters = await c.expect('cluster', RECONNECT_CDS_HOLD_MAX_MS + 3000);
  assert.ok(Date.now() - connectedAt >= RECONNECT_CDS_HOLD_MAX_MS - 100, 'not before the bound');
  assert.deepEqual(clusters.resources.map((r) => r.name), ['tuple-new']);
});
