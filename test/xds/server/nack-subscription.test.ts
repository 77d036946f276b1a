/**
 * After a NACK of CDS (the same holds for LDS), what a changed subscription gets in state of the
 * world (docs/xds-protocol.md "ACK and NACK"): a change that alters the set the proxy should hold is
 * answered, even though the answer carries the rejected resource again; a change that leaves that
 * set as it was (a name added that does not exist) and a repeated NACK are not, so the rejected set
 * is never sent twice in a row. gRPC clients learn that a newly asked name does not exist from their
 * own 15 s timer, never from its absence in a response, so that silence costs them nothing.
 * Also the `*` wildcard outside LDS/CDS (docs/xds-protocol.md "State of the world").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, sotwBarrier } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9003] }, extraEndpoints: { probe: [1], probe2: [2] } };
const GRPC = { userAgentName: 'gRPC Node Pure JS' };
const REJECTED = 'cluster c0: connect_timeout too long';

test('SotW after a CDS NACK: a subscription change that alters the set is answered once; one that does not, and a repeated NACK, are not', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'grpc-nack', ...GRPC } });
  client.request('cluster', ['c0']);
  assert.deepEqual((await client.expect('cluster')).resources.map((r) => r.name), ['c0']);
  client.ack('cluster');
  client.request('endpoint', ['c0']);
  await client.expect('endpoint');
  client.ack('endpoint');

  h.set({ ...V1, connectTimeoutS: 5n });
  const rejected = await client.expect('cluster');
  client.nack('cluster', REJECTED);
  await eventually('NACK recorded', () => h.server.proxy('grpc-nack')?.types.cluster!.status === 'NACKED');

  // A name that does not exist added (grpc-js-xds repeats the NACK's nonce and error): the set to
  // hold is the rejected one, so no answer.
    client.request('cluster', ['c0', 'ghost'], { error: REJECTED });
  await sotwBarrier(client, ['c0']);
  assert.equal(h.server.proxy('grpc-nack')!.types.cluster!.nonce, rejected.nonce, 'the rejected set was not sent again');

  // An existing name added: answered with the whole named set, the rejected c0 included.
    client.request('cluster', ['c0', 'c1', 'ghost'], { error: REJECTED });
  const grown = await client.expect('cluster');
  assert.deepEqual(grown.resources.map((r) => r.name), ['c0', 'c1']);
  assert.equal(grown.version, rejected.version);
  assert.notEqual(grown.nonce, rejected.nonce);
  // The proxy rejects it again, and again: no resend, no loop.
  client.nack('cluster', REJECTED);
  client.nack('cluster', REJECTED);
  // (A gRPC client is sent nothing when it drops an EDS name, so this barrier adds a second probe.)
  await sotwBarrier(client, ['c0', 'probe'], 'probe2');
  assert.deepEqual(
    client.history.filter((r) => r.kind === 'cluster').map((r) => r.nonce),
    [client.history[0]!.nonce, rejected.nonce, grown.nonce],
    'three CDS responses in all',
  );

  // The rejected name dropped: the set changes, so it is answered, and its ACK ends the NACKED state.
  client.request('cluster', ['c1'], { error: REJECTED });
  assert.deepEqual((await client.expect('cluster')).resources.map((r) => r.name), ['c1']);
  client.ack('cluster');
  await eventually('ACK after the NACK', () => h.server.proxy('grpc-nack')?.types.cluster!.status === 'SYNCED');
});

test('SotW: an explicit * asks EDS for every resource of the class; an empty EDS request asks for nothing', async (t) => {
  const h = await startHarness(V1);
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-eds-star' } });
  client.request('endpoint', ['*']);
  assert.deepEqual((await client.expect('endpoint')).resources.map((r) => r.name), ['c0', 'c1', 'probe', 'probe2']);
  client.ack('endpoint');
  await eventually('EDS wildcard shown', () => h.server.proxy('envoy-eds-star')?.types.endpoint!.subscribed.wildcard === true);
  // A named request leaves the wildcard; an empty one then is no legacy wildcard for EDS.
  client.request('endpoint', ['c0']);
  assert.deepEqual((await client.expect('endpoint')).resources.map((r) => r.name), ['c0']);
  client.ack('endpoint');
  client.request('endpoint', []);
  assert.deepEqual((await client.expect('endpoint')).resources.map((r) => r.name), []);
  assert.deepEqual(h.server.proxy('envoy-eds-star')!.types.endpoint!.subscribed, { wildcard: false, names: [], count: 0 });
});
