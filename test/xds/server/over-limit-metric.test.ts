/**
 * Streams keyway ends itself at a per-stream limit after admitting them (docs/security.md "xDS
 * streams") are counted in keyway_xds_streams_over_limit_total by reason, so a fleet of proxies
 * reset over and over (a slow link) shows on a dashboard; refusals at admission stay in
 * keyway_xds_streams_refused_total and are not counted twice. The server's `overLimit` event is fed
 * to the metrics as the xDS stage's push telemetry feeds `refused` (src/app/push-telemetry.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer, type XdsServerEvents } from '../../../src/xds/server/index.js';
import type { XdsStreamLimits } from '../../../src/xds/server/stream-limits.js';
import { createKeywayMetrics, KEYWAY_METRICS as N, STREAM_LIMIT_REASONS, type KeywayMetrics } from '../../../src/telemetry/index.js';
import { apiListener, edsCluster, loadAssignment, resourceSet, shardRoutes } from '../../support/xds-client/resources.js';
import { parseExposition } from '../../telemetry/support/exposition.js';
import { eventually } from '../../support/eventually.js';
import { connect, openStream, sotwRequest } from '../../../e2e/support/xds-raw.js';

/** One route per shard: a route configuration of about 130 KB, twice HTTP/2's initial window. */
const SHARDS = 2000;

async function serve(t: { after(fn: () => unknown): void }, limits: Partial<XdsStreamLimits>) {
  const byShard: Record<string, string> = {};
  for (let i = 0; i < SHARDS; i++) byShard[String(i)] = `cache-node-with-a-long-name-${i % 7}`;
  const set = resourceSet({ cluster: [edsCluster('c0')], endpoint: [loadAssignment('c0', [{ port: 1 }])], listener: [apiListener('cache.svc', 'r')], route: [shardRoutes('r', byShard, 'c0')] });
  const cache = new SnapshotCache({ build: () => set, checkConsistency: () => [] });
  const metrics = createKeywayMetrics();
  t.after(() => metrics.shutdown());
  const events: XdsServerEvents = {
    refused: (e) => metrics.recordStreamRefused(e.limit),
    overLimit: (e) => metrics.recordStreamOverLimit(e.reason),
  };
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', limits, events });
  t.after(() => server.close());
  const session = connect(server.port);
  t.after(() => session.destroy());
  return { metrics, session };
}

/** The over-limit counter per reason, and the refusals summed over every limit. */
async function counts(metrics: KeywayMetrics): Promise<{ overLimit: Record<string, number>; refused: number }> {
  const exp = parseExposition(await metrics.render());
  const overLimit: Record<string, number> = {};
  for (const reason of STREAM_LIMIT_REASONS) overLimit[reason] = exp.value(N.streamsOverLimit, { reason });
  const refused = exp.find(N.streamsRefused).reduce((sum, s) => sum + s.value, 0);
  return { overLimit, refused };
}

test('a proxy that never reads is reset at the stall limit and counted once as write_stall', { timeout: 20_000 }, async (t) => {
  const { metrics, session } = await serve(t, { writeStallMs: 200 });
  const stuck = openStream(session, sotwRequest({ id: 'stuck-proxy', userAgentName: 'envoy' }, 'route', ['r']), { read: false });
  const ended = await stuck.ended;
  assert.equal(ended.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 'reset at the stall limit');
  assert.deepEqual(await counts(metrics), { overLimit: { write_stall: 1, buffered_bytes: 0, subscription_names: 0, subscription_name_chars: 0 }, refused: 0 });
});

test('a backlog over the buffered-bytes limit is counted as buffered_bytes', { timeout: 20_000 }, async (t) => {
  const { metrics, session } = await serve(t, { maxBufferedBytes: 64 * 1024, highWaterBytes: 16 * 1024 });
  const stuck = openStream(session, sotwRequest({ id: 'stuck-proxy', userAgentName: 'envoy' }, 'route', ['r']), { read: false });
  const ended = await stuck.ended;
  assert.equal(ended.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 'reset at the buffered-bytes limit');
  assert.deepEqual(await counts(metrics), { overLimit: { write_stall: 0, buffered_bytes: 1, subscription_names: 0, subscription_name_chars: 0 }, refused: 0 });
});

test('a subscription over the names cap mid-stream is counted as subscription_names, not as a refusal', { timeout: 20_000 }, async (t) => {
  const { metrics, session } = await serve(t, { maxNamesPerSubscription: 3 });
  const node = { id: 'greedy-proxy', userAgentName: 'envoy' };
  const over = openStream(session, sotwRequest(node, 'endpoint', ['c0']));
  await eventually('the first response', () => over.received() > 0);
  over.stream.write(sotwRequest(node, 'endpoint', ['c0', 'b', 'c', 'd']));
  const ended = await over.ended;
  assert.equal(ended.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(ended.grpcMessage ?? '', /^LIMIT_EXCEEDED: the endpoint subscription of 4 names/);
  assert.deepEqual(await counts(metrics), { overLimit: { write_stall: 0, buffered_bytes: 0, subscription_names: 1, subscription_name_chars: 0 }, refused: 0 });
});

test('a subscription over the cap on the characters of its names is counted as subscription_name_chars', { timeout: 20_000 }, async (t) => {
  const { metrics, session } = await serve(t, { maxNameCharsPerSubscription: 8 });
  const over = openStream(session, sotwRequest({ id: 'long-names', userAgentName: 'envoy' }, 'endpoint', ['c0', 'a-long-name']));
  assert.equal((await over.ended).grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.deepEqual(await counts(metrics), { overLimit: { write_stall: 0, buffered_bytes: 0, subscription_names: 0, subscription_name_chars: 1 }, refused: 0 });
});

test('a stream refused at admission is counted as refused only', { timeout: 20_000 }, async (t) => {
  const { metrics, session } = await serve(t, { maxNodeIdLength: 8 });
  const refused = openStream(session, sotwRequest({ id: 'a-node-id-too-long', userAgentName: 'envoy' }, 'route', ['r']));
  assert.equal((await refused.ended).grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.deepEqual(await counts(metrics), { overLimit: { write_stall: 0, buffered_bytes: 0, subscription_names: 0, subscription_name_chars: 0 }, refused: 1 });
});
