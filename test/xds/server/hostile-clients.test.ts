/**
 * Clients that bend the xDS protocol (docs/xds-protocol.md "ACK and NACK", docs/security.md "xDS
 * streams"): a delta client pairing its subscriptions with unsubscribes of names it never held, one
 * subscribing to names of megabytes, and clients answering one response more than once (a
 * subscription change carrying the nonce already ACKed, a NACK repeated).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { deltaBarrier, sotwBarrier, startHarness } from '../../support/xds-client/harness.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';
import type { XdsServerEvents } from '../../../src/xds/server/index.js';
import { eventually } from '../../support/eventually.js';
import { DEFAULT_XDS_STREAM_LIMITS, xdsStreamLimitsFromEnv } from '../../../src/xds/server/stream-limits.js';

const V1: MiniTopology = { clusters: { c0: [9001, 9002], c1: [9003] }, extraEndpoints: { probe: [1] } };

/** Every ACK and NACK the server reports, as `ack cluster`, `nack endpoint`, ... */
function answers(): { log: string[]; events: XdsServerEvents } {
  const log: string[] = [];
  return { log, events: { acked: (e) => log.push(`ack ${e.kind}`), nacked: (e) => log.push(`nack ${e.kind}`) } };
}

test('delta: unsubscribing names never subscribed makes no room under the names cap', { timeout: 10_000 }, async (t) => {
  const h = await startHarness(V1, { limits: { maxNamesPerSubscription: 3 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-junk-unsub' }, protocol: 'delta' });
  client.delta('endpoint', { subscribe: ['c0', 'c1'] });
  await client.expect('endpoint');
  client.delta('endpoint', { subscribe: ['a', 'b', 'c', 'd'], unsubscribe: ['w', 'x', 'y', 'z'] });
  const status = await client.finished;
  assert.equal(status.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(status.details, /^LIMIT_EXCEEDED: the endpoint subscription of 6 names exceeds the limit of 3/);
  assert.equal(h.server.proxy('envoy-junk-unsub'), undefined);
});

test('delta: a subscription is within the cap when what it unsubscribes was held; a name asked twice counts once', { timeout: 10_000 }, async (t) => {
  const h = await startHarness(V1, { limits: { maxNamesPerSubscription: 3 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-swap' }, protocol: 'delta' });
  client.delta('endpoint', { subscribe: ['c0', 'c1', 'c1'] });
  await client.expect('endpoint');
  client.delta('endpoint', { subscribe: ['a', 'b'], unsubscribe: ['c0', 'c1'] });
  assert.deepEqual((await client.expect('endpoint')).removed, ['a', 'b']);
  assert.equal(h.server.proxy('envoy-swap')!.types.endpoint!.subscribed.count, 2);
});

test('the characters of a subscription\'s names are capped: delta names add up, a SotW request counts its own', { timeout: 10_000 }, async (t) => {
  const h = await startHarness(V1, { limits: { maxNameCharsPerSubscription: 100 } });
  t.after(() => h.close());
  const delta = h.client({ node: { id: 'envoy-long-delta' }, protocol: 'delta' });
  delta.delta('endpoint', { subscribe: ['a'.repeat(60)] });
  await delta.expect('endpoint');
  // Unsubscribing gives its characters back.
  delta.delta('endpoint', { subscribe: ['b'.repeat(60)], unsubscribe: ['a'.repeat(60)] });
  await delta.expect('endpoint');
  delta.delta('endpoint', { subscribe: ['c'.repeat(60)] });
  const status = await delta.finished;
  assert.equal(status.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(status.details, /^LIMIT_EXCEEDED: the endpoint subscription's names have 120 characters in all, over the limit of 100/);

  const sotw = h.client({ node: { id: 'envoy-long-sotw' } });
  sotw.request('endpoint', ['c0', 'x'.repeat(98)]);
  await sotw.expect('endpoint');
  sotw.request('endpoint', ['c0', 'x'.repeat(99)]);
  assert.equal((await sotw.finished).code, GrpcStatus.RESOURCE_EXHAUSTED);

  assert.ok(DEFAULT_XDS_STREAM_LIMITS.maxNameCharsPerSubscription >= DEFAULT_XDS_STREAM_LIMITS.maxNamesPerSubscription * 100);
  assert.equal(xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_NAME_CHARS_PER_SUBSCRIPTION: '5000' }).maxNameCharsPerSubscription, 5000);
});

test('SotW: a subscription change carrying the nonce already ACKed is not a second ACK', { timeout: 10_000 }, async (t) => {
  const { log, events } = answers();
  const h = await startHarness(V1, { events });
  t.after(() => h.close());
  // A gRPC client asks clusters one name more per request, each request carrying the latest nonce and version.
  const client = h.client({ node: { id: 'grpc-dup-ack', userAgentName: 'gRPC Go' } });
  client.request('cluster', ['c0']);
  await client.expect('cluster');
  client.ack('cluster');
  client.request('cluster', ['c0', 'c1']);
  await client.expect('cluster');
  client.ack('cluster');
  await sotwBarrier(client, ['c0']);
  await eventually('the barrier\'s ACK', () => log.includes('ack endpoint'));
  assert.deepEqual(log, ['ack cluster', 'ack cluster', 'ack endpoint'], 'one ACK per response');
});

test('SotW: a repeated NACK is counted once, and a later request with the NACKed nonce and version does not turn it into an ACK', { timeout: 10_000 }, async (t) => {
  const { log, events } = answers();
  const h = await startHarness(V1, { events });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-nack-loop' } });
  client.request('endpoint', ['c0']);
  const eds = await client.expect('endpoint');
  client.nack('endpoint', 'rejected');
  client.nack('endpoint', 'rejected');
  client.nack('endpoint', 'rejected');
  // The same nonce, no error, the version sent (an identical version resent, then NACKed): not an ACK.
  client.request('endpoint', ['c0'], { nonce: eds.nonce, version: eds.version });
  await sotwBarrier(client, ['c0']);
  await eventually('the barrier\'s ACK', () => log.includes('ack endpoint'));
  assert.deepEqual(log, ['nack endpoint', 'ack endpoint'], 'one NACK, then the barrier\'s ACK');
  assert.equal(h.server.proxy('envoy-nack-loop')!.types.endpoint!.lastNack?.message, 'rejected');
});

test('delta: a repeated NACK is counted once', { timeout: 10_000 }, async (t) => {
  const { log, events } = answers();
  const h = await startHarness(V1, { events });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-delta-nack-loop' }, protocol: 'delta' });
  client.delta('endpoint', { subscribe: ['c0'] });
  await client.expect('endpoint');
  client.nack('endpoint', 'rejected');
  client.nack('endpoint', 'rejected');
  await deltaBarrier(client);
  await eventually('the barrier\'s ACK', () => log.includes('ack endpoint'));
  assert.deepEqual(log, ['nack endpoint', 'ack endpoint']);
  // The barrier's ACK does not apply c0's rejected version: the proxy still runs on its last good
  // one, so the type stays NACKED until c0 changes (as in SotW).
  assert.equal(h.server.proxy('envoy-delta-nack-loop')!.types.endpoint!.status, 'NACKED');
});
