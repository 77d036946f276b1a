// The server counts the route configuration names open streams subscribe to over RDS, across streams
// (route-subscriptions.ts), and tells its observer when a name loses its last subscriber
// (XdsServerEvents.routeReleased): what starts a former route name's grace (docs/xds.md "A renamed
// service"). `routeSubscribed` answers whether a stream asks for a name now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { XdsServerEvents } from '../../../src/xds/server/index.js';
import { RouteSubscriptions } from '../../../src/xds/server/route-subscriptions.js';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const TOPO: MiniTopology = { clusters: { c0: [9001] }, route: 'cache-route' };

function observed(): { events: XdsServerEvents; released: string[] } {
  const released: string[] = [];
  return { released, events: { routeReleased: (e) => void released.push(e.name) } };
}

test('RouteSubscriptions: released once, when the last subscriber lets go', () => {
  const released: string[] = [];
  const r = new RouteSubscriptions((name) => released.push(name));
  r.add('a');
  r.add('a');
  r.add('b');
  r.remove('a');
  assert.deepEqual(released, []);
  assert.ok(r.has('a'));
  r.remove('a');
  r.remove('a'); // no subscriber left: nothing more
  assert.deepEqual(released, ['a']);
  assert.equal(r.has('a'), false);
  assert.equal(r.size, 1);
});

test('SotW: a route name is released when the last stream asking for it drops it or closes, not before', async (t) => {
  const { events, released } = observed();
  const h = await startHarness(TOPO, { events });
  t.after(() => h.close());
  const a = h.client({ node: { id: 'envoy-a', userAgentName: 'envoy' } });
  const b = h.client({ node: { id: 'envoy-b', userAgentName: 'envoy' } });
  a.request('route', ['cache-route', 'old-svc']);
  b.request('route', ['cache-route', 'old-svc']);
  await a.expect('route');
  await b.expect('route');
  assert.ok(h.server.routeSubscribed('old-svc'));
  // a drops old-svc: b still asks for it.
  a.request('route', ['cache-route']);
  await eventually('a subscription a changed', () => h.server.proxy('envoy-a')?.types.route?.subscribed.count, { accept: (n) => n === 1 });
  assert.deepEqual(released, []);
  assert.ok(h.server.routeSubscribed('old-svc'));
  b.close();
  // (A function: the assertion above narrowed `released` to an empty array.)
  const seen = (): readonly string[] => released;
  await eventually('old-svc released', seen, { accept: (r) => r.includes('old-svc') });
  assert.deepEqual(released, ['old-svc'], 'cache-route is still asked for by a');
  assert.equal(h.server.routeSubscribed('old-svc'), false);
  assert.ok(h.server.routeSubscribed('cache-route'));
  a.close();
  await eventually('cache-route released', seen, { accept: (r) => r.includes('cache-route') });
  assert.deepEqual(released, ['old-svc', 'cache-route']);
});

test('delta: unsubscribing or closing releases a route name, resubscribing holds it again', async (t) => {
  const { events, released } = observed();
  const h = await startHarness(TOPO, { events });
  t.after(() => h.close());
  const c = h.client({ node: { id: 'envoy-d', userAgentName: 'envoy' }, protocol: 'delta' });
  c.delta('route', { subscribe: ['cache-route', 'old-svc'] });
  await c.expect('route');
  c.ack('route');
  assert.ok(h.server.routeSubscribed('old-svc'));
  c.delta('route', { unsubscribe: ['old-svc'] });
  await eventually('old-svc released', () => released, { accept: (r) => r.length >= 1 });
  assert.deepEqual(released, ['old-svc']);
  c.delta('route', { subscribe: ['old-svc'] });
  await eventually('old-svc held again', () => h.server.routeSubscribed('old-svc'), { accept: (v) => v });
  c.close();
  await eventually('both released', () => released, { accept: (r) => r.length >= 3 });
  assert.deepEqual([...released].sort(), ['cache-route', 'old-svc', 'old-svc']);
  assert.equal(h.server.routeSubscribed('old-svc'), false);
});
