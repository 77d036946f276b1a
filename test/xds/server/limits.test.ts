/**
 * The per-stream limits of the xDS server (docs/security.md "xDS streams"): names per subscription
 * (SotW and delta), streams per node id, node id reuse from another peer, backpressure (a proxy
 * that has not read its backlog gets the latest state once, not every superseded response), the
 * length of a node id, and the cut text a client chooses (NACKs, the node's other fields).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { create } from '@bufbuild/protobuf';
import { DiscoveryRequestSchema, NodeSchema } from '../../../src/xds/proto.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { TYPE_URL } from '../../../src/xds/resources.js';
import { identityOf, MAX_NODE_FIELD_CHARS, ProxyRegistry, TypeTracker, type StreamRecord } from '../../../src/xds/server/proxy-state.js';
import { MAX_NACK_CHARS } from '../../../src/xds/server/session.js';
import { SotwSession } from '../../../src/xds/server/sotw-session.js';
import { DEFAULT_XDS_STREAM_LIMITS, xdsStreamLimitsFromEnv } from '../../../src/xds/server/stream-limits.js';
import { StreamOutbox } from '../../../src/xds/server/outbox.js';
import { startXdsServer } from '../../../src/xds/server/index.js';
import { startHarness } from '../../support/xds-client/harness.js';
import { XdsTestClient } from '../../support/xds-client/xds-client.js';
import { eventually } from '../../support/eventually.js';
import { connect, openStream, sotwRequest } from '../../../e2e/support/xds-raw.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001, 9002], c1: [9003] }, extraEndpoints: { probe: [1] } };

test('SotW: a subscription over the names cap ends the stream with RESOURCE_EXHAUSTED (LIMIT_EXCEEDED)', async (t) => {
  const h = await startHarness(V1, { limits: { maxNamesPerSubscription: 3 } });
  t.after(() => h.close());
  const ok = h.client({ node: { id: 'envoy-ok' } });
  ok.request('endpoint', ['c0', 'c1', 'probe']);
  await ok.expect('endpoint');
  const over = h.client({ node: { id: 'envoy-over' } });
  over.request('endpoint', ['c0', 'c1', 'probe', 'x']);
  const status = await over.finished;
  assert.equal(status.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(status.details, /^LIMIT_EXCEEDED: the endpoint subscription of 4 names exceeds the limit of 3/);
  assert.equal(h.server.proxy('envoy-over'), undefined);
});

test('delta: subscriptions add up to the names cap', async (t) => {
  const h = await startHarness(V1, { limits: { maxNamesPerSubscription: 3 } });
  t.after(() => h.close());
  const client = h.client({ node: { id: 'envoy-d' }, protocol: 'delta' });
  client.delta('endpoint', { subscribe: ['c0', 'c1'] });
  await client.expect('endpoint');
  client.delta('endpoint', { subscribe: ['a', 'b'] });
  const status = await client.finished;
  assert.equal(status.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(status.details, /LIMIT_EXCEEDED/);
});

test('a node id holds at most maxStreamsPerNode streams', async (t) => {
  const h = await startHarness(V1, { limits: { maxStreamsPerNode: 2 } });
  t.after(() => h.close());
  for (const service of ['cluster', 'endpoint'] as const) {
    const c = h.client({ node: { id: 'envoy-n' }, service });
    c.request(service, service === 'endpoint' ? ['c0'] : []);
    await c.expect(service);
  }
  const third = h.client({ node: { id: 'envoy-n' }, service: 'listener' });
  third.request('listener');
  const status = await third.finished;
  assert.equal(status.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(status.details, /node "envoy-n" already holds 2 xDS streams/);
  assert.equal(h.server.proxy('envoy-n')!.streams.length, 2);
});

test('node id reuse from another peer host is flagged on the row with each stream\'s peer', () => {
  const registry = new ProxyRegistry();
  const record = (id: string, address: string): StreamRecord => ({
    id,
    protocol: 'sotw',
    service: 'ads',
    startedAt: Date.now(),
    identity: identityOf(create(NodeSchema, { id: 'envoy-1', userAgentName: 'envoy' })),
    types: new Map([['cluster', new TypeTracker('cluster')]]),
    peer: { address },
  });
  assert.equal(registry.add(record('1', '10.0.0.1:5000')), undefined);
  assert.equal(registry.add(record('2', '10.0.0.1:5001')), undefined, 'a reconnect from the same host is no conflict');
  assert.equal(registry.proxy('envoy-1')!.conflict, undefined);
  const intruder = record('3', '10.0.0.9:6000');
  assert.deepEqual(registry.add(intruder), ['10.0.0.1']);
  const row = registry.proxy('envoy-1')!;
  assert.equal(row.conflict, true);
  assert.deepEqual(row.streams.map((s) => s.peer), ['10.0.0.1:5000', '10.0.0.1:5001', '10.0.0.9:6000']);
  registry.remove(intruder);
  assert.equal(registry.proxy('envoy-1')!.conflict, undefined);
  assert.equal(registry.streamsOf('envoy-1'), 2);
});

test('backpressure: pushes wait while the proxy has not read its backlog, then only the latest is built', () => {
  let topo: MiniTopology = V1;
  const cache = new SnapshotCache({ build: () => miniSet(topo), checkConsistency: () => [] });
  const written: Uint8Array[] = [];
  const pending: (() => void)[] = [];
  // A call whose writes complete only when the test says the proxy read them.
  const call = {
    write(chunk: Uint8Array, done: () => void): boolean {
      written.push(chunk);
      pending.push(done);
      return true;
    },
    once(): void {},
  };
  const outbox = new StreamOutbox(call, { highWaterBytes: 1, maxBufferedBytes: 1 << 20, writeStallMs: 60_000 }, {
    onWritable: () => session.onWritable(),
    onOverLimit: () => assert.fail('no limit is hit'),
  });
  // No subscription hold-off: this test steps the stream synchronously.
  const holdOff = { holdOffMs: 0, maxDelayMs: 0 };
  const session = new SotwSession({ cache, registry: new ProxyRegistry(), logger: pino({ level: 'silent' }), holdOff }, '1', 'ads', outbox);
  session.onRequest(create(DiscoveryRequestSchema, { node: { id: 'envoy-bp', userAgentName: 'envoy' }, typeUrl: TYPE_URL.cluster }));
  assert.equal(written.length, 1, 'the first response is written');
  const first = session.types.get('cluster')!.versionSent;
  for (const port of [9100, 9200, 9300]) {
    topo = { clusters: { [`c${port}`]: [port], c1: [9003] }, extraEndpoints: { probe: [1] } };
    cache.rebuild();
  }
  assert.equal(written.length, 1, 'nothing more while the first is unread');
  assert.equal(session.types.get('cluster')!.versionSent, first, 'no superseded response was built');
  pending.shift()!();
  assert.equal(written.length, 2, 'one response once the proxy read: the latest state');
  assert.equal(session.types.get('cluster')!.versionSent, cache.snapshot({ flavor: 'envoy', zone: '', subzone: '' })!.kinds.cluster.version);
  assert.equal(outbox.undelivered, written[1]!.byteLength);
  assert.notEqual(first, session.types.get('cluster')!.versionSent);
  session.close('test over');
  outbox.dispose();
});

test('the outbox closes a stream whose undelivered bytes pass the limit, or that reads nothing for too long', async () => {
  const reasons: string[] = [];
  const call = { write: (): boolean => true, once: (): void => {} };
  const big = new StreamOutbox(call, { highWaterBytes: 10, maxBufferedBytes: 100, writeStallMs: 60_000 }, {
    onWritable: () => {},
    onOverLimit: (r) => reasons.push(r),
  });
  big.write(new Uint8Array(60));
  assert.equal(big.writable, false, 'over the high-water mark: hold the next push');
  big.write(new Uint8Array(60));
  assert.match(reasons[0] ?? '', /120 bytes undelivered exceed the limit of 100/);
  const stalled = new StreamOutbox(call, { highWaterBytes: 10, maxBufferedBytes: 100, writeStallMs: 50 }, {
    onWritable: () => {},
    onOverLimit: (r) => reasons.push(r),
  });
  stalled.write(new Uint8Array(5));
  await new Promise((r) => setTimeout(r, 150));
  assert.match(reasons[1] ?? '', /read none of 5 undelivered bytes in 50 ms/);
  big.dispose();
  stalled.dispose();
});

test('streams per connection are capped; one node id from two peer hosts is flagged and logged', async (t) => {
  const lines: { msg?: string; otherPeers?: string[] }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) });
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', logger, limits: { maxStreamsPerConnection: 2 } });
  t.after(() => server.close());
  const one = connect(server.port);
  const other = connect(server.port, '127.0.0.2');
  t.after(() => {
    one.destroy();
    other.destroy();
  });
  const a = openStream(one, sotwRequest({ id: 'envoy-1' }, 'cluster'));
  openStream(one, sotwRequest({ id: 'envoy-2' }, 'cluster'));
  const third = openStream(one, sotwRequest({ id: 'envoy-3' }, 'cluster'));
  const end = await third.ended;
  assert.equal(end.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(end.grpcMessage ?? '', /^LIMIT_EXCEEDED: connection 127\.0\.0\.1:\d+ already holds 2 xDS streams/);

  const b = openStream(other, sotwRequest({ id: 'envoy-1' }, 'cluster'));
  for (const s of [a, b]) while (s.received() === 0) await new Promise((r) => setTimeout(r, 10));
  const row = server.proxy('envoy-1')!;
  assert.equal(row.conflict, true);
  assert.deepEqual(row.streams.map((s) => s.peer?.split(':')[0]).sort(), ['127.0.0.1', '127.0.0.2']);
  assert.ok(lines.some((l) => l.msg?.startsWith('node id reuse') && l.otherPeers?.includes('127.0.0.1')));
  assert.equal(server.proxy('envoy-2')!.conflict, undefined);
});

test('a node id longer than maxNodeIdLength ends the stream before keyway registers it; one at the limit is served', { timeout: 10_000 }, async (t) => {
  const h = await startHarness(V1, { limits: { maxNodeIdLength: 40 } });
  t.after(() => h.close());
  const over = h.client({ node: { id: 'n'.repeat(41) } });
  over.request('cluster');
  const status = await over.finished;
  assert.equal(status.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(status.details, /^LIMIT_EXCEEDED: node id "n+…" has 41 characters \(the limit is 40, KEYWAY_XDS_MAX_NODE_ID_LENGTH\)$/);
  assert.deepEqual(h.server.proxies(), []);
  const ok = h.client({ node: { id: 'n'.repeat(40) } });
  ok.request('cluster');
  await ok.expect('cluster');
  assert.deepEqual(h.server.proxies().map((p) => p.id), ['n'.repeat(40)]);
});

test('by default a node id of megabytes is refused, and the refusal and its log line quote only its start', { timeout: 10_000 }, async (t) => {
  const lines: { msg?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) });
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', logger });
  t.after(() => server.close());
  const max = DEFAULT_XDS_STREAM_LIMITS.maxNodeIdLength;
  for (const length of [max + 1, 1_000_000]) {
    const c = new XdsTestClient({ port: server.port, node: { id: 'x'.repeat(length) } });
    t.after(() => c.close());
    c.request('cluster');
    const status = await c.finished;
    assert.equal(status.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.match(status.details, new RegExp(`has ${length} characters \\(the limit is ${max}, KEYWAY_XDS_MAX_NODE_ID_LENGTH\\)`));
    assert.ok(status.details.length < 200, `${status.details.length} characters`);
  }
  assert.deepEqual(server.proxies(), []);
  // One line for the burst of refusals (stream-cap.test.ts), quoting the first.
  const logged = lines.filter((l) => JSON.stringify(l).includes('LIMIT_EXCEEDED: node id'));
  assert.equal(logged.length, 1, JSON.stringify(lines.map((l) => l.msg)));
  for (const l of lines) assert.ok(JSON.stringify(l).length < 1000, `a log line of ${JSON.stringify(l).length} characters: ${l.msg}`);
  assert.equal(xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_NODE_ID_LENGTH: '100' }).maxNodeIdLength, 100);
  assert.throws(() => xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_NODE_ID_LENGTH: '0' }), /KEYWAY_XDS_MAX_NODE_ID_LENGTH/);
});

test('a NACK\'s text and the node\'s cluster, user agent and locality are kept cut in the row and the log', async (t) => {
  const lines: { msg?: string; error?: string; userAgent?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) });
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', logger });
  t.after(() => server.close());
  const long = (c: string): string => c.repeat(MAX_NODE_FIELD_CHARS * 10);
  const c = new XdsTestClient({ port: server.port, node: { id: 'envoy-verbose', cluster: long('c'), userAgentName: long('u'), locality: { region: long('r'), zone: long('z'), subZone: long('s') } } });
  t.after(() => c.close());
  c.request('cluster');
  await c.expect('cluster');
  const nack = 'e'.repeat(MAX_NACK_CHARS * 25);
  c.nack('cluster', nack);
  const row = await eventually('the NACK is recorded', async () => server.proxy('envoy-verbose'), { accept: (r) => r?.types.cluster?.status === 'NACKED' });
  const kept = row!.types.cluster!.lastNack!.message;
  assert.ok(kept.startsWith('e'.repeat(MAX_NACK_CHARS)) && !kept.startsWith('e'.repeat(MAX_NACK_CHARS + 1)), 'the first MAX_NACK_CHARS characters');
  assert.match(kept, new RegExp(`\\(${nack.length} characters, cut\\)$`));
  for (const value of [row!.cluster, row!.userAgent, row!.locality.region, row!.locality.zone, row!.locality.subzone]) {
    assert.equal(value.length, MAX_NODE_FIELD_CHARS + 1, value.slice(0, 20));
  }
  const warned = lines.find((l) => l.msg?.startsWith('NACK'));
  assert.equal(warned?.error, kept);
  assert.ok(lines.every((l) => JSON.stringify(l).length < MAX_NACK_CHARS + 1000), 'every log line is bounded');
});

test('a subscribed name is listed cut like the node\'s fields; count still counts it', () => {
  const t = new TypeTracker('cluster');
  const long = 'n'.repeat(MAX_NODE_FIELD_CHARS * 100);
  t.names.add(long);
  t.names.add('keyway-cache');
  const row = t.view('s1');
  assert.equal(row.subscribed.count, 2);
  assert.deepEqual(row.subscribed.names.map((n) => n.length).sort((a, b) => a - b), ['keyway-cache'.length, MAX_NODE_FIELD_CHARS + 1]);
  assert.ok(row.subscribed.names.includes(`${'n'.repeat(MAX_NODE_FIELD_CHARS)}…`));
});
