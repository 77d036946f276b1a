/**
 * What streams share is keyed by the names clients asked (owned-memo.ts): a SotW subscription's
 * selection, a delta response's removed names. Names are the client's text and may hold any
 * character, so the key must tell `["c0\nc1"]` from `["c0", "c1"]`: joined with a separator, one
 * client's subscription to a made-up name answered another client's real one with nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002] } };
const AT_ONCE = { holdOffMs: 0, maxDelayMs: 0 };

test('SotW: a client subscribing to a name that joins two real ones does not blank the endpoints of a client asking for them', async (t) => {
  const h = await startHarness(V1, { holdOff: AT_ONCE });
  t.after(() => h.close());
  const hostile = h.client({ node: { id: 'hostile' } });
  hostile.request('endpoint', ['c0\nc1']);
  // Requests of a stream are handled in order: once CDS is answered, its EDS selection was built.
  hostile.request('cluster');
  await hostile.expect('cluster');

  const envoy = h.client({ node: { id: 'envoy-1' } });
  envoy.request('endpoint', ['c0', 'c1']);
  const r = await envoy.expect('endpoint', 2000);
  assert.deepEqual(r.resources.map((x) => x.name).sort(), ['c0', 'c1']);
});

test('delta: removed names asked by one client are not confused with another client\'s', async (t) => {
  const h = await startHarness(V1, { holdOff: AT_ONCE });
  t.after(() => h.close());
  const hostile = h.client({ node: { id: 'hostile' }, protocol: 'delta' });
  hostile.delta('endpoint', { subscribe: ['x\ny'] });
  const first = await hostile.expect('endpoint');
  assert.deepEqual(first.removed, ['x\ny']);

  const proxy = h.client({ node: { id: 'proxy-1' }, protocol: 'delta' });
  proxy.delta('endpoint', { subscribe: ['x', 'y'] });
  const r = await proxy.expect('endpoint', 2000);
  assert.deepEqual([...r.removed].sort(), ['x', 'y']);
});
