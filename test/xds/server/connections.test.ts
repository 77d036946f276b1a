/**
 * Connection limits of the xDS port (docs/security.md "xDS streams"), with real grpc-js clients:
 * a connection holding no stream is closed after KEYWAY_XDS_MAX_CONNECTION_IDLE_MS (it was kept for
 * as long as its client answered pings), and every connection is aged out after
 * KEYWAY_XDS_MAX_CONNECTION_AGE_MS plus its grace, so clients spread over the replicas again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Client, connectivityState, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { WarmReportReplySchema, WarmReportSchema, type WarmReport } from '../../../src/xds/proto.js';
import { grpcConnectionOptions, startXdsServer, type XdsServer } from '../../../src/xds/server/xds-server.js';
import { DEFAULT_XDS_STREAM_LIMITS, MAX_TIMER_MS, xdsStreamLimitsFromEnv, type XdsStreamLimits } from '../../../src/xds/server/stream-limits.js';
import { XdsTestClient } from '../../support/xds-client/xds-client.js';
import { eventually } from '../../support/eventually.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001] } };

/** A server, closed after the test's clients (the after hooks run in turn, and a client still connected holds the shutdown for its grace). */
async function server(t: { after(fn: () => unknown): void }, limits: Partial<XdsStreamLimits>): Promise<{ s: XdsServer; closeAfter(c: { close(): void }): void }> {
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const s = await startXdsServer({ cache, port: 0, host: '127.0.0.1', limits });
  const clients: { close(): void }[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await s.close();
  });
  return { s, closeAfter: (c) => void clients.push(c) };
}

/** A unary ReportWarm (this server has no sink, so UNIMPLEMENTED answers it): opens the connection. */
function reportWarm(client: Client): Promise<number> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/keyway.v1.ShardOwnership/ReportWarm',
      (m: WarmReport) => Buffer.from(toBinary(WarmReportSchema, m)),
      (b: Buffer) => fromBinary(WarmReportReplySchema, b),
      create(WarmReportSchema, { nodeId: 'n', shards: [] }),
      (err: ServiceError | null) => resolve(err?.code ?? GrpcStatus.OK),
    );
  });
}

test('a connection holding no stream is closed once idle; one holding a stream is not; the client reconnects when it next calls', { timeout: 15_000 }, async (t) => {
  const { s, closeAfter } = await server(t, { maxConnectionIdleMs: 200 });
  // A connection of its own: grpc-js would otherwise share the xDS client's, which holds a stream.
  const client = new Client(`127.0.0.1:${s.port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  closeAfter(client);
  const xds = new XdsTestClient({ port: s.port, node: { id: 'envoy-a' } });
  closeAfter(xds);
  xds.request('cluster');
  await xds.expect('cluster');

  assert.equal(await reportWarm(client), GrpcStatus.UNIMPLEMENTED);
  const channel = client.getChannel();
  assert.equal(channel.getConnectivityState(false), connectivityState.READY);
  // keyway's GOAWAY puts the client's channel back to IDLE.
  await eventually('idle connection closed', () => channel.getConnectivityState(false) === connectivityState.IDLE, { timeoutMs: 3000 });
  assert.equal(await reportWarm(client), GrpcStatus.UNIMPLEMENTED, 'a later call reconnects');

  await sleep(600);
  assert.equal(s.proxy('envoy-a')?.streams.length, 1, 'the stream and its connection are kept');
  const done = await Promise.race([xds.finished, sleep(10).then(() => undefined)]);
  assert.equal(done, undefined);
});

test('a connection past its age is sent GOAWAY and closed after the grace; its client reconnects and is served', { timeout: 15_000 }, async (t) => {
  const { s, closeAfter } = await server(t, { maxConnectionAgeMs: 300, maxConnectionAgeGraceMs: 200 });
  const opened = Date.now();
  const xds = new XdsTestClient({ port: s.port, node: { id: 'envoy-a' } });
  closeAfter(xds);
  xds.request('cluster');
  await xds.expect('cluster');
  const end = await Promise.race([xds.finished, sleep(5000, undefined, { ref: false }).then(() => undefined)]);
  assert.ok(end, 'the stream ended with its connection');
  assert.equal(end.code, GrpcStatus.UNAVAILABLE);
  // Age less its 10% jitter, then the grace.
  assert.ok(Date.now() - opened >= 270 + 200, `ended after ${Date.now() - opened} ms`);
  await eventually('stream gone', () => s.proxy('envoy-a') === undefined);

  const again = new XdsTestClient({ port: s.port, node: { id: 'envoy-a' } });
  closeAfter(again);
  again.request('cluster');
  await again.expect('cluster');
});

test('connection settings: istiod-like defaults, environment overrides, and "never" where a timer cannot wait', () => {
  const d = grpcConnectionOptions(DEFAULT_XDS_STREAM_LIMITS);
  assert.equal(d['grpc.max_connection_age_ms'], 30 * 60_000);
  assert.equal(d['grpc.max_connection_age_grace_ms'], 10_000);
  assert.equal(d['grpc.max_connection_idle_ms'], 5 * 60_000);
  const env = xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_CONNECTION_IDLE_MS: '60000', KEYWAY_XDS_MAX_CONNECTION_AGE_MS: '600000', KEYWAY_XDS_MAX_CONNECTION_AGE_GRACE_MS: '5000' });
  assert.deepEqual(grpcConnectionOptions(env), { 'grpc.max_connection_idle_ms': 60_000, 'grpc.max_connection_age_ms': 600_000, 'grpc.max_connection_age_grace_ms': 5000 });
  // grpc-js adds up to 10% to the age: past MAX_TIMER_MS / 1.1 its timer would fire after 1 ms.
  const never = grpcConnectionOptions({ ...DEFAULT_XDS_STREAM_LIMITS, maxConnectionAgeMs: 2_000_000_000, maxConnectionIdleMs: MAX_TIMER_MS });
  assert.equal(never['grpc.max_connection_age_ms'], undefined);
  assert.equal(never['grpc.max_connection_idle_ms'], MAX_TIMER_MS, 'grpc-js reads MAX_TIMER_MS as never');
});
