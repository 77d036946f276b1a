// The server tells its observer which route configurations a stream's RDS subscription names that
// its class's snapshot does not hold (UnservedRoutesEvent): how keyway learns the route name of a
// listener an Envoy still drains after a `service` rename served by another keyway process
// (docs/xds.md "A renamed service"). Once per subscription change, never on an ACK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { XdsServerEvents } from '../../../src/xds/server/index.js';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const TOPO: MiniTopology = { clusters: { c0: [9001] }, route: 'cache-route' };

function observed(): { events: XdsServerEvents; seen: { nodeId: string; flavor: string; names: readonly string[] }[] } {
  const seen: { nodeId: string; flavor: string; names: readonly string[] }[] = [];
  return { seen, events: { unservedRoutes: (e) => void seen.push({ nodeId: e.nodeId, flavor: e.proxyClass.flavor, names: e.names }) } };
}

test('SotW: a route subscription naming route configurations the snapshot lacks is reported once per change, with only those names', async (t) => {
  const { events, seen } = observed();
  const h = await startHarness(TOPO, { events });
  t.after(() => h.close());
  const c = h.client({ node: { id: 'envoy-1', userAgentName: 'envoy' } });
  c.request('route', ['cache-route']);
  await c.expect('route');
  c.ack('route');
  c.request('route', ['cache-route', 'old-svc']);
  await eventually('the report', () => seen.length, { accept: (n) => n >= 1 });
  assert.deepEqual(seen, [{ nodeId: 'envoy-1', flavor: 'envoy', names: ['old-svc'] }]);
  // The same subscription again (an ACK, a stale request): not reported again.
  c.request('route', ['cache-route', 'old-svc']);
  c.request('route', ['old-svc', 'cache-route']);
  c.request('route', ['cache-route']);
  c.request('route', ['cache-route', 'older-svc']);
  await eventually('the next report', () => seen.length, { accept: (n) => n >= 2 });
  assert.deepEqual(seen.map((s) => s.names), [['old-svc'], ['older-svc']]);
});

test('delta: the names just subscribed that the snapshot lacks are reported, once per subscribe', async (t) => {
  const { events, seen } = observed();
  const h = await startHarness(TOPO, { events });
  t.after(() => h.close());
  const c = h.client({ node: { id: 'envoy-2', userAgentName: 'envoy' }, protocol: 'delta' });
  c.delta('route', { subscribe: ['cache-route', 'old-svc'] });
  const r = await c.expect('route');
  c.ack('route');
  assert.deepEqual(r.resources.map((x) => x.name), ['cache-route']);
  c.delta('route', { subscribe: ['cache-route'] });
  c.delta('route', { subscribe: ['older-svc'], unsubscribe: ['old-svc'] });
  await eventually('the reports', () => seen.length, { accept: (n) => n >= 2 });
  assert.deepEqual(seen.map((s) => s.names), [['old-svc'], ['older-svc']]);
  assert.equal(seen[0]!.flavor, 'envoy');
});
