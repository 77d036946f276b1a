/**
 * The cap on open xDS streams in all (KEYWAY_XDS_MAX_STREAMS, docs/security.md "xDS streams"): the
 * per-connection cap alone let a client opening many connections make keyway hold streams without
 * bound. A refused stream ends RESOURCE_EXHAUSTED naming the setting, the observer counts each
 * refusal, and the log has one line per burst; so do refusals at the per-node cap and the node-id
 * length, which a client can also repeat in a loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer } from '../../../src/xds/server/index.js';
import type { RefusedEvent } from '../../../src/xds/server/events.js';
import { RefusalLog } from '../../../src/xds/server/refusal-log.js';
import { DEFAULT_XDS_STREAM_LIMITS, xdsStreamLimitsFromEnv } from '../../../src/xds/server/stream-limits.js';
import { eventually } from '../../support/eventually.js';
import { connect, deltaRequest, openStream, sotwRequest } from '../../../e2e/support/xds-raw.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001] } };

interface Line {
  level?: number;
  msg?: string;
  limit?: string;
  refused?: number;
}

test('past maxStreams a new stream on any connection is refused, naming the setting, counted, logged once; a closed stream makes room', { timeout: 15_000 }, async (t) => {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  const refused: RefusedEvent[] = [];
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', logger, limits: { maxStreams: 2 }, events: { refused: (e) => refused.push(e) } });
  t.after(() => server.close());
  // Every stream on its own connection: the per-connection cap (100) is never what refuses them.
  const sessions = Array.from({ length: 6 }, () => connect(server.port));
  t.after(() => sessions.forEach((s) => s.destroy()));

  const a = openStream(sessions[0]!, sotwRequest({ id: 'envoy-a' }, 'cluster'));
  const b = openStream(sessions[1]!, deltaRequest({ id: 'envoy-b' }, 'cluster', []), { delta: true });
  await eventually('both streams answered', () => a.received() > 0 && b.received() > 0);

  for (const [i, session] of sessions.slice(2, 5).entries()) {
    const over = openStream(session, sotwRequest({ id: `envoy-over-${i}` }, 'cluster'));
    const end = await over.ended;
    assert.equal(end.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.match(end.grpcMessage ?? '', /^LIMIT_EXCEEDED: this keyway replica already holds 2 xDS streams \(the limit is 2, KEYWAY_XDS_MAX_STREAMS\)/);
  }
  assert.deepEqual(server.proxies().map((p) => p.id).sort(), ['envoy-a', 'envoy-b']);
  assert.equal(refused.length, 3);
  assert.ok(refused.every((e) => e.limit === 'KEYWAY_XDS_MAX_STREAMS' && e.peer.startsWith('127.0.0.1:')));
  const warned = lines.filter((l) => l.msg?.includes('KEYWAY_XDS_MAX_STREAMS'));
  assert.equal(warned.length, 1, JSON.stringify(warned));
  assert.equal(warned[0]!.level, 40);

  // A stream that ends gives its place back.
  a.stream.close();
  await eventually('envoy-a gone', () => server.proxy('envoy-a') === undefined);
  const c = openStream(sessions[5]!, sotwRequest({ id: 'envoy-c' }, 'cluster'));
  await eventually('envoy-c answered', () => c.received() > 0);
  assert.deepEqual(server.proxies().map((p) => p.id).sort(), ['envoy-b', 'envoy-c']);
});

test('a refusal burst is logged once when it starts and summed up once it has been quiet', async () => {
  const lines: Line[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  const refusals = new RefusalLog(log, 30);
  for (let i = 0; i < 50; i++) refusals.refused('KEYWAY_XDS_MAX_STREAMS', { peer: `p${i}` }, 'LIMIT_EXCEEDED: full');
  refusals.refused('KEYWAY_XDS_MAX_STREAMS_PER_CONNECTION', {}, 'LIMIT_EXCEEDED: connection full');
  assert.equal(lines.length, 2);
  await eventually('both bursts summed up', () => lines.length === 4);
  const sums = lines.slice(2).sort((x, y) => (x.limit ?? '').localeCompare(y.limit ?? ''));
  assert.deepEqual(sums.map((l) => [l.limit, l.refused]), [['KEYWAY_XDS_MAX_STREAMS', 50], ['KEYWAY_XDS_MAX_STREAMS_PER_CONNECTION', 1]]);
  // The next refusal starts a new burst, logged again.
  refusals.refused('KEYWAY_XDS_MAX_STREAMS', {}, 'LIMIT_EXCEEDED: full');
  assert.equal(lines.length, 5);
  refusals.close();
  assert.equal(lines.length, 6);
});

test('KEYWAY_XDS_MAX_STREAMS overrides the cap; the default leaves room for the 5000-stream fan-out and 2000 Envoys without ADS', () => {
  assert.equal(xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_STREAMS: '50000' }).maxStreams, 50_000);
  assert.throws(() => xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_STREAMS: '-1' }), /KEYWAY_XDS_MAX_STREAMS must be a positive integer/);
  assert.ok(DEFAULT_XDS_STREAM_LIMITS.maxStreams >= 5000 && DEFAULT_XDS_STREAM_LIMITS.maxStreams >= 2000 * 4);
});

test('refusals at the per-node cap and the node-id length are logged once per burst and counted, not a line per stream', { timeout: 15_000 }, async (t) => {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  const refused: RefusedEvent[] = [];
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', logger, limits: { maxStreamsPerNode: 1, maxNodeIdLength: 8 }, events: { refused: (e) => refused.push(e) } });
  t.after(() => server.close());
  const session = connect(server.port);
  t.after(() => session.destroy());
  const first = openStream(session, sotwRequest({ id: 'envoy-n' }, 'cluster'));
  await eventually('envoy-n answered', () => first.received() > 0);

  for (let i = 0; i < 5; i++) {
    const again = await openStream(session, sotwRequest({ id: 'envoy-n' }, 'cluster')).ended;
    assert.equal(again.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.match(again.grpcMessage ?? '', /^LIMIT_EXCEEDED: node "envoy-n" already holds 1 xDS streams \(the limit is 1, KEYWAY_XDS_MAX_STREAMS_PER_NODE\)$/);
    const long = await openStream(session, sotwRequest({ id: `too-long-${i}` }, 'cluster')).ended;
    assert.equal(long.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.match(long.grpcMessage ?? '', /^LIMIT_EXCEEDED: node id "too-long-\d…" has 10 characters \(the limit is 8, KEYWAY_XDS_MAX_NODE_ID_LENGTH\)$/);
  }
  for (const setting of ['KEYWAY_XDS_MAX_STREAMS_PER_NODE', 'KEYWAY_XDS_MAX_NODE_ID_LENGTH']) {
    const warned = lines.filter((l) => l.level === 40 && l.msg?.includes(setting));
    assert.equal(warned.length, 1, `${setting}: ${JSON.stringify(warned)}`);
    assert.equal(refused.filter((e) => e.limit === setting).length, 5);
  }
  assert.deepEqual(server.proxies().map((p) => p.id), ['envoy-n']);
});

test('a burst that never goes quiet ends after its longest span: the next refusal is logged again, with its own fields', () => {
  const lines: Line[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  let now = 0;
  const refusals = new RefusalLog(log, 60_000, 'reports refused', 1_000, () => now);
  // One node refused every 100 ms without a break: the quiet time never passes.
  for (; now < 2_500; now += 100) refusals.refused('load', { node: now < 1_000 ? 'bad' : 'other' }, `refused ${now < 1_000 ? 'bad' : 'other'}`);
  refusals.close();
  const warns = lines.filter((l) => l.level === 40).map((l) => (l as { node?: string }).node);
  assert.deepEqual(warns, ['bad', 'other', 'other'], 'a new burst every 1000 ms, each starting with a line of its own');
  assert.deepEqual(lines.filter((l) => l.level === 30).map((l) => l.refused), [10, 10, 5]);
});
