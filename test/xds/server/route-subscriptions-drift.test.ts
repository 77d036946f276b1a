// The RDS names counted across streams (route-subscriptions.ts) follow each stream's subscription
// exactly, through the requests that could make them drift: a count left behind keeps a former route
// name served for the life of the process, one lost drops a name an Envoy still drains (docs/xds.md
// "A renamed service"). Each case ends with the stream closed and every name released exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { XdsServerEvents } from '../../../src/xds/server/index.js';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const TOPO: MiniTopology = { clusters: { c0: [9001] }, route: 'cache-route' };

function observed(): { events: XdsServerEvents; released: string[] } {
  const released: string[] = [];
  return { released, events: { routeReleased: (e) => void released.push(e.name) } };
}

test('delta: a name subscribed and unsubscribed in one request is not counted; a name subscribed twice counts once', async (t) => {
  const { events, released } = observed();
  const h = await startHarness(TOPO, { events });
  t.after(() => h.close());
  const c = h.client({ node: { id: 'envoy-d', userAgentName: 'envoy' }, protocol: 'delta' });
  c.delta('route', { subscribe: ['cache-route', 'old-svc', 'old-svc'] });
  await c.expect('route');
  c.ack('route');
  c.delta('route', { subscribe: ['flip'], unsubscribe: ['flip'] });
  c.delta('route', { subscribe: ['cache-route'] });
  await eventually('flip released', () => [...released], { accept: (r) => r.includes('flip') });
  assert.equal(h.server.routeSubscribed('flip'), false);
  c.close();
  await eventually('all released', () => [...released], { accept: (r) => r.length >= 3 });
  assert.deepEqual([...released].sort(), ['cache-route', 'flip', 'old-svc'], 'each once');
});

test("SotW: the same names asked again, or with '*', count once; the snapshot's string and the request's copy are one name", async (t) => {
  const { events, released } = observed();
  const h = await startHarness(TOPO, { events });
  t.after(() => h.close());
  const a = h.client({ node: { id: 'envoy-a', userAgentName: 'envoy' } });
  a.request('route', ['cache-route', 'old-svc']);
  await a.expect('route');
  a.ack('route');
  a.request('route', ['old-svc', 'cache-route']);
  a.request('route', ['*', 'old-svc', 'cache-route']);
  a.request('route', ['old-svc', 'cache-route']);
  await eventually('the subscription', () => h.server.proxy('envoy-a')?.types.route?.subscribed.count, { accept: (n) => n === 2 });
  assert.deepEqual(released, []);
  a.close();
  await eventually('both released', () => [...released], { accept: (r) => r.length >= 2 });
  assert.deepEqual([...released].sort(), ['cache-route', 'old-svc']);
  assert.equal(h.server.routeSubscribed('old-svc'), false);
});

test('a delta stream ended over the names limit after its names were counted releases them', async (t) => {
  const { events, released } = observed();
  const h = await startHarness(TOPO, { events, limits: { maxNamesPerSubscription: 2 } });
  t.after(() => h.close());
  const c = h.client({ node: { id: 'envoy-l', userAgentName: 'envoy' }, protocol: 'delta' });
  c.delta('route', { subscribe: ['cache-route'] });
  await c.expect('route');
  c.ack('route');
  c.delta('route', { subscribe: ['x1', 'x2'] });
  await eventually('every name released', () => [...released], { accept: (r) => r.length >= 3 });
  assert.deepEqual([...released].sort(), ['cache-route', 'x1', 'x2']);
  for (const n of ['cache-route', 'x1', 'x2']) assert.equal(h.server.routeSubscribed(n), false, n);
});

test('a stream refused at its first request (the per-node cap) counts nothing', async (t) => {
  const { events, released } = observed();
  const h = await startHarness(TOPO, { events, limits: { maxStreamsPerNode: 1 } });
  t.after(() => h.close());
  const held = h.client({ node: { id: 'envoy-n', userAgentName: 'envoy' } });
  held.request('route', ['cache-route']);
  await held.expect('route');
  // Same node: refused at the per-node cap.
  const refused = h.client({ node: { id: 'envoy-n', userAgentName: 'envoy' } });
  refused.request('route', ['cache-route', 'other']);
  await refused.next(5_000).catch(() => undefined);
  assert.equal(h.server.routeSubscribed('other'), false);
  held.close();
  await eventually('cache-route released', () => [...released], { accept: (r) => r.length >= 1 });
  assert.deepEqual(released, ['cache-route']);
});
