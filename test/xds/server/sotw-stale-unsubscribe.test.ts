// A proxyless gRPC client gets only changed EDS resources (partial SotW updates), so keyway must
// know which ones it holds. A name dropped in a request with a stale nonce is dropped by the client
// all the same (the request is ignored as a subscription only): asked again, it must be sent again,
// or the client waits for it until the resource next changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';

const GRPC_NODE = { id: 'grpc-stale-unsub', userAgentName: 'gRPC Node Pure JS' };

test('SotW gRPC: a name dropped with a stale nonce and asked again is resent', async (t) => {
  const h = await startHarness({ clusters: { c0: [9001], c1: [9002] } }, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const c = h.client({ node: GRPC_NODE });
  c.request('endpoint', ['c0', 'c1']);
  const r1 = await c.expect('endpoint');
  assert.deepEqual(r1.resources.map((r) => r.name).sort(), ['c0', 'c1']);
  c.ack('endpoint');

  // c0 changes: a partial update with c0 alone.
  h.set({ clusters: { c0: [9001, 9003], c1: [9002] } });
  const r2 = await c.expect('endpoint');
  assert.deepEqual(r2.resources.map((r) => r.name), ['c0']);

  // Before reading r2 the client dropped c1 (its request names r1's nonce, now stale), then asks
  // for it again with r2's ACK.
  c.request('endpoint', ['c0'], { nonce: r1.nonce, version: r1.version, ignoredByServer: true });
  c.request('endpoint', ['c0', 'c1'], { nonce: r2.nonce, version: r2.version });
  const r3 = await c.expect('endpoint', 2000);
  assert.ok(r3.resources.some((r) => r.name === 'c1'), `c1 resent (got ${r3.resources.map((r) => r.name).join(',')})`);
});
