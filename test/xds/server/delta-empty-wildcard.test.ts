// Delta: a fresh wildcard subscription is answered even when the kind holds nothing for the proxy,
// so the proxy's initial fetch of that type ends instead of waiting (src/xds/server/delta-session.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';

test('delta: a wildcard subscription to a kind with nothing in it is answered, empty, so the initial fetch ends', async (t) => {
  const h = await startHarness({ clusters: { c0: [9001] } }, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-empty-wildcard' }, protocol: 'delta' });
  client.delta('assignment');
  const r = await client.expect('assignment', 2000);
  assert.deepEqual(r.resources, []);
  assert.deepEqual(r.removed, []);
});
