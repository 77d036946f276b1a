/**
 * A name dropped from a SotW subscription and asked again must be sent again (xDS protocol, "How
 * the client specifies what resources to return": the server must resend any newly requested
 * resource): the client forgot it when it stopped asking (grpc-js-xds and grpc-go drop a resource
 * once nothing watches it). When both requests fall in one subscription hold-off (or while the
 * proxy is behind on reading), the answer is built once, after both: the name asked again is still
 * new to the client and goes in it, even though the subscription ends where it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const TOPO: MiniTopology = { clusters: { c0: [9000], c1: [9001], c2: [9002] } };
const HOLD_OFF = { holdOffMs: 100, maxDelayMs: 1000 };

for (const [flavor, node] of [
  ['gRPC', { userAgentName: 'gRPC Node' }],
  ['Envoy', { userAgentName: 'envoy' }],
] as const) {
  test(`SotW EDS (${flavor}): a name dropped and asked again within one hold-off is sent again`, async (t) => {
    const h = await startHarness(TOPO, { holdOff: HOLD_OFF });
    t.after(() => h.close());
    const client = h.client({ node: { id: `${flavor}-resub`, ...node } });
    client.request('endpoint', ['c0', 'c1']);
    assert.deepEqual((await client.expect('endpoint')).resources.map((r) => r.name), ['c0', 'c1']);
    client.ack('endpoint');
    // One burst: c1 dropped, then asked again.
    client.request('endpoint', ['c0']);
    client.request('endpoint', ['c0', 'c1']);
    const again = await client.expect('endpoint', 2000);
    assert.ok(again.resources.some((r) => r.name === 'c1'), 'c1 is sent again');
    client.ack('endpoint');
    // The same within a burst that also adds a name: both the new and the re-asked one are sent.
    client.request('endpoint', ['c0']);
    client.request('endpoint', ['c0', 'c1', 'c2']);
    const both = await client.expect('endpoint', 2000);
    for (const name of ['c1', 'c2']) assert.ok(both.resources.some((r) => r.name === name), `${name} is sent`);
  });
}

test('SotW EDS (gRPC): a name dropped for good is not sent, and the proxy row stops counting it', async (t) => {
  const h = await startHarness({ ...TOPO, extraEndpoints: { probe: [1] } }, { holdOff: HOLD_OFF });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'grpc-drop', userAgentName: 'gRPC Node' } });
  client.request('endpoint', ['c0', 'c1']);
  await client.expect('endpoint');
  client.ack('endpoint');
  client.request('endpoint', ['c0']);
  client.request('endpoint', ['c0', 'probe']);
  const r = await client.expect('endpoint', 2000);
  assert.deepEqual(r.resources.map((x) => x.name), ['probe'], 'only the new name: c0 is held, c1 is no longer asked');
  client.ack('endpoint');
  assert.deepEqual(h.server.sentResources('grpc-drop')!.endpoint.map((x) => x.name), ['c0', 'probe']);
});

test('SotW EDS (gRPC): a name dropped by a stale request and asked again is sent again once the client catches up', async (t) => {
  const h = await startHarness(TOPO, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'grpc-stale-drop', userAgentName: 'gRPC Node' } });
  client.request('endpoint', ['c0', 'c1']);
  const first = await client.expect('endpoint');
  client.ack('endpoint');
  h.set({ clusters: { ...TOPO.clusters, c0: [9100] } });
  const pushed = await client.expect('endpoint');
  // Written before the client read `pushed`: they carry the older nonce, and the server ignores them,
  // but the client did drop c1 (its cache forgets what nothing watches) and asked for it again.
  client.request('endpoint', ['c0'], { nonce: first.nonce, ignoredByServer: true });
  client.request('endpoint', ['c0', 'c1'], { nonce: first.nonce, ignoredByServer: true });
  // The client reads `pushed` and ACKs it with its subscription as it now is.
  client.ack('endpoint');
  assert.equal(pushed.nonce, client.last('endpoint')!.nonce);
  const again = await client.expect('endpoint', 2000);
  assert.deepEqual(again.resources.map((r) => r.name), ['c1'], 'c1 is sent again');
});
