import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002] } };
// The route names a cluster that does not exist: the consistency check rejects the set, so the
// class has no snapshot until the topology is fixed.
const BROKEN: MiniTopology = { ...V1, routeCluster: 'missing' };

test('delta: names subscribed before the class has a snapshot are answered once it has one, those that do not exist as removed', async (t) => {
  const h = await startHarness(BROKEN, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-ns' }, protocol: 'delta' });
  client.delta('endpoint', { subscribe: ['c0', 'no-such'] });
  await assert.rejects(client.expect('endpoint', 300), /no xDS response/, 'nothing to answer with yet');

  h.set(V1);
  const eds = await client.expect('endpoint', 2000);
  assert.deepEqual(eds.resources.map((r) => r.name), ['c0']);
  assert.deepEqual(eds.removed, ['no-such'], 'the proxy learns the name does not exist');
});
