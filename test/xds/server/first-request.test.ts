/**
 * The deadline of a stream's first request (KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS, docs/security.md
 * "xDS streams"): a stream that never names its node held a place under the stream caps for as long
 * as its client answered pings, so silent streams could fill KEYWAY_XDS_MAX_STREAMS. Real clients
 * (here keyway's own agent) send their first request at once and are not touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { pino } from 'pino';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer } from '../../../src/xds/server/index.js';
import type { RefusedEvent } from '../../../src/xds/server/events.js';
import { MAX_TIMER_MS, xdsStreamLimitsFromEnv, DEFAULT_XDS_STREAM_LIMITS } from '../../../src/xds/server/stream-limits.js';
import { ServerLink } from '../../../src/agent/server-link.js';
import { eventually } from '../../support/eventually.js';
import { connect, openStream, sotwRequest } from '../../../e2e/support/xds-raw.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001] } };
const TIMEOUT_MS = 150;

interface Line {
  level?: number;
  msg?: string;
  limit?: string;
}

test('a stream that sends no first request ends RESOURCE_EXHAUSTED naming the setting, gives its place back, and a burst is logged once', { timeout: 5000 }, async (t) => {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  const refused: RefusedEvent[] = [];
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const server = await startXdsServer({
    cache,
    port: 0,
    host: '127.0.0.1',
    logger,
    limits: { maxStreams: 3, firstRequestTimeoutMs: TIMEOUT_MS },
    events: { refused: (e) => refused.push(e) },
  });
  t.after(() => server.close());
  const session = connect(server.port);
  t.after(() => session.destroy());

  // Three silent streams fill the cap; they answer pings (Node's HTTP/2 does) but never ask.
  const silent = [0, 1, 2].map(() => openStream(session, Buffer.alloc(0)));
  const late = openStream(session, sotwRequest({ id: 'envoy-late' }, 'cluster'));
  const first = await late.ended;
  assert.match(first.grpcMessage ?? '', /KEYWAY_XDS_MAX_STREAMS\)/, 'the cap is full of silent streams');

  for (const s of silent) {
    const end = await s.ended;
    assert.equal(end.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.match(end.grpcMessage ?? '', /^LIMIT_EXCEEDED: the stream sent no request in 150 ms \(the limit is 150, KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS\)/);
  }
  assert.equal(refused.filter((e) => e.limit === 'KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS').length, 3);
  const warned = lines.filter((l) => l.msg?.includes('KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS'));
  assert.equal(warned.length, 1, JSON.stringify(warned));
  assert.equal(warned[0]!.level, 40);

  // Their places are free again; a stream that asked at once is not ended by the deadline. On a new
  // connection, as a client opens after the refusal at the cap drained the first (GOAWAY).
  const again = connect(server.port);
  t.after(() => again.destroy());
  const envoy = openStream(again, sotwRequest({ id: 'envoy-a' }, 'cluster'));
  await eventually('envoy-a answered', () => envoy.received() > 0);
  await sleep(TIMEOUT_MS * 3);
  assert.deepEqual(server.proxies().map((p) => p.id), ['envoy-a']);
  assert.equal(envoy.stream.closed, false);
});

test('a first request that arrived while the event loop was stalled past the deadline is served, not ended', { timeout: 5000 }, async (t) => {
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', limits: { maxStreams: 1, firstRequestTimeoutMs: 100 } });
  t.after(() => server.close());
  const session = connect(server.port);
  t.after(() => session.destroy());
  const stream = openStream(session, Buffer.alloc(0));
  // Refused at the cap: the server holds the first stream, and its deadline runs.
  await openStream(session, sotwRequest({ id: 'probe' }, 'cluster')).ended;
  // The request reaches the socket, then the loop stalls (a long computation) past the deadline:
  // the deadline's timer and the request are both due when it resumes, the timer first.
  await new Promise<void>((resolve) =>
    stream.stream.write(sotwRequest({ id: 'envoy-a' }, 'cluster'), () => {
      const until = Date.now() + 300;
      while (Date.now() < until) {
        /* stalled */
      }
      resolve();
    }),
  );
  await eventually('answered or ended', () => stream.received() > 0 || stream.stream.closed);
  assert.ok(stream.received() > 0, 'served');
  assert.deepEqual(server.proxies().map((p) => p.id), ['envoy-a']);
});

test('closing the server ends a silent stream with its deadline: nothing fires after close', { timeout: 5000 }, async () => {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  const refused: RefusedEvent[] = [];
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', logger, limits: { maxStreams: 1, firstRequestTimeoutMs: TIMEOUT_MS }, events: { refused: (e) => refused.push(e) } });
  const session = connect(server.port);
  try {
    const silent = openStream(session, Buffer.alloc(0));
    // Refused at the cap: the silent stream is held.
    await openStream(session, sotwRequest({ id: 'envoy-b' }, 'cluster')).ended;
    await server.close();
    assert.equal((await silent.ended).grpcStatus, GrpcStatus.OK);
    await sleep(TIMEOUT_MS * 2);
    assert.deepEqual(refused.map((e) => e.limit), ['KEYWAY_XDS_MAX_STREAMS']);
    assert.deepEqual(lines.filter((l) => l.msg?.includes('KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS')), []);
  } finally {
    session.destroy();
  }
});

test("keyway's agent sends its first request at once: its ownership stream outlives the deadline", { timeout: 15_000 }, async (t) => {
  const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
  const refused: RefusedEvent[] = [];
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', limits: { firstRequestTimeoutMs: 50 }, events: { refused: (e) => refused.push(e) } });
  t.after(() => server.close());
  const timing = { backoffInitialMs: 50, backoffMaxMs: 200, dropAfterMs: 60_000, reportDeadlineMs: 1000 };
  const link = new ServerLink(`127.0.0.1:${server.port}`, 'node-a', timing, () => {}, () => {});
  t.after(() => link.close());
  link.connect();
  await eventually('agent stream registered', () => server.proxy('node-a'));
  const opened = server.proxy('node-a')!.streams[0]!.id;
  await sleep(300);
  assert.deepEqual(refused, []);
  assert.equal(server.proxy('node-a')?.streams[0]?.id, opened, 'the same stream, never ended');
});

test('KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS overrides the deadline; a duration past what a timer holds is refused, not fired after 1 ms', () => {
  assert.equal(xdsStreamLimitsFromEnv({ KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS: '5000' }).firstRequestTimeoutMs, 5000);
  assert.equal(DEFAULT_XDS_STREAM_LIMITS.firstRequestTimeoutMs, 30_000);
  assert.equal(xdsStreamLimitsFromEnv({ KEYWAY_XDS_WRITE_STALL_MS: String(MAX_TIMER_MS) }).writeStallMs, MAX_TIMER_MS);
  for (const name of ['KEYWAY_XDS_WRITE_STALL_MS', 'KEYWAY_XDS_FIRST_REQUEST_TIMEOUT_MS', 'KEYWAY_XDS_MAX_CONNECTION_AGE_MS']) {
    assert.throws(() => xdsStreamLimitsFromEnv({ [name]: '3000000000' }), new RegExp(`^KeywayError: ${name} must be at most 2147483647 ms`));
  }
  // Not a duration: any safe integer goes.
  assert.equal(xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_SHARED_BYTES: '3000000000' }).maxSharedBytes, 3_000_000_000);
});
